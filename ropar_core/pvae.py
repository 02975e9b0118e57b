"""Part-aware VAE (paper §2.3, DESIGN §5).

Each of the five parts' slice of the 263-d HumanML3D vector (root + spine + the part's own joints) is
padded to the widest part and run through ONE 1-D temporal conv encoder/decoder with a learned part
embedding, 4x downsampled in time: a latent token per (part, 4 frames). Decoding gives a vector per
part; the channels several parts share (root, spine) are averaged back into one 263-d frame.

The loss only looks at credible (part, frame) cells. Noisy cells are also zeroed at the encoder input
(with a flag channel saying so), so nothing of a noisy part can reach any credible cell's loss through
the convolutions' receptive field.

Ablations: `part_decomposition=False` encodes the whole 263-d frame into one token per 4 frames (P=1);
`shared_parameters=False` gives every part its own encoder/decoder.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ropar_core import motion_losses as ml
from ropar_core import skeleton as sk
from ropar_core.checkpoint import config_from_dict


@dataclass
class PVAEConfig:
    latent_dim: int = 16  # C, channels per token
    width: int = 128  # conv channels
    depth: int = 2  # residual blocks per resolution stage
    part_embed: bool = True  # learned part embedding (shared parameters only)
    part_decomposition: bool = True  # False: one full-body token per 4 frames (P=1)
    shared_parameters: bool = True  # False: one encoder/decoder per part
    root_weight: float = 5.0  # weight of the root channels in the reconstruction (their errors integrate)
    kl_weight: float = 1e-4
    position_weight: float = 2.0  # joint positions in each frame's facing frame, per metre of error
    global_weight: float = 1.0  # joint positions along the integrated root path, per metre
    recon: str = "smooth_l1"  # or "mse"
    # physical terms (ropar_core/motion_losses.py), per metre (per frame for velocities); 0 = off.
    # Measured on 300-step runs against the same run without them (docs/motion_quality.md): together they
    # bring the reconstructions' skating ratio to the real one (0.56 -> 0.32, real 0.30), sinking frames
    # from 30 % to ~0-9 %, the worst bone-length variation from 40 % to ~20 %.
    velocity_weight: float = 5.0  # joint displacement per frame along the root path
    accel_weight: float = 5.0  # second differences of the joints
    contact_weight: float = 10.0  # foot joints sliding while the target's contact channel is on
    bone_weight: float = 5.0  # bone lengths of the decoded joints vs the target's
    foot_height_weight: float = 3.0  # heights of the foot joints (ankles, toes) vs the target's

    @property
    def num_parts(self) -> int:
        return sk.NUM_PARTS if self.part_decomposition else 1

    @property
    def input_dim(self) -> int:
        return sk.MAX_PART_DIM if self.part_decomposition else sk.FEATURE_DIM

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PVAEConfig:
        return config_from_dict(cls, d, "P-VAE", error=ValueError)


PVAE_PRESETS = {
    "tiny": dict(width=32, depth=1, latent_dim=8),  # tests
    "small": dict(width=128, depth=2, latent_dim=16),  # CPU, quick
    "medium": dict(width=192, depth=2, latent_dim=32),  # CPU, the shipped default model's (7.7 mm MPJPE)
    "base": dict(width=256, depth=3, latent_dim=16),  # GPU
}


# ---------------------------------------------------------------------------------------------
# Torch versions of the feature <-> joint maps the loss needs (recover_from_ric semantics).

def _rotate_y_inv(v: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate v (..., 3) by the inverse of the root quaternion (cos a, 0, sin a, 0), angle a (...)."""
    c, s = torch.cos(2 * angle), torch.sin(2 * angle)
    x, y, z = v.unbind(-1)
    return torch.stack([c * x - s * z, y, s * x + c * z], dim=-1)


def recover_from_ric(features: torch.Tensor) -> torch.Tensor:
    """(..., T, 263) un-normalised features -> (..., T, 22, 3) global joints (HumanML3D recover_from_ric).
    Differentiable; the root path integrates the root velocities over time from frame 0."""
    yaw_vel = features[..., :-1, 0]
    angle = torch.cat([torch.zeros_like(features[..., :1, 0]), torch.cumsum(yaw_vel, -1)], -1)  # (..., T)
    step = torch.zeros_like(features[..., :3])  # (..., T, 3)
    step[..., 1:, 0] = features[..., :-1, 1]
    step[..., 1:, 2] = features[..., :-1, 2]
    root = torch.cumsum(_rotate_y_inv(step, angle), dim=-2)
    root = torch.stack([root[..., 0], features[..., 3], root[..., 2]], dim=-1)  # (..., T, 3)
    ric = features[..., sk.RIC_SLICE].unflatten(-1, (sk.NUM_JOINTS - 1, 3))  # (..., T, 21, 3)
    ric = _rotate_y_inv(ric, angle.unsqueeze(-1))
    ric = ric + (root * root.new_tensor([1.0, 0.0, 1.0])).unsqueeze(-2)
    return torch.cat([root.unsqueeze(-2), ric], dim=-2)


def local_joints(features: torch.Tensor) -> torch.Tensor:
    """(..., 263) -> (..., 22, 3) joints in the frame's own facing frame, root at (0, height, 0).
    Needs no integration over time, so every frame stands on its own (what a per-cell loss wants)."""
    height = features[..., 3]
    root = torch.stack([torch.zeros_like(height), height, torch.zeros_like(height)], dim=-1)
    ric = features[..., sk.RIC_SLICE].unflatten(-1, (sk.NUM_JOINTS - 1, 3))
    return torch.cat([root.unsqueeze(-2), ric], dim=-2)


def _part_tables(part_decomposition: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gather index (P, D) into the 263 channels (pad -> index 263, a zero channel), its validity (P, D),
    and which joints each part's loss covers (P, 22)."""
    if not part_decomposition:
        index = torch.arange(sk.FEATURE_DIM).unsqueeze(0)
        return index, torch.ones_like(index, dtype=torch.bool), torch.ones(1, sk.NUM_JOINTS, dtype=torch.bool)
    index = torch.full((sk.NUM_PARTS, sk.MAX_PART_DIM), sk.FEATURE_DIM, dtype=torch.long)
    for p, name in enumerate(sk.PART_NAMES):
        chans = torch.as_tensor(sk.PART_CHANNELS[name])
        index[p, : len(chans)] = chans
    return index, index < sk.FEATURE_DIM, _membership()[1]


def _membership() -> tuple[torch.Tensor, torch.Tensor]:
    """Which of the five parts carry each channel (5, 263) and each joint (5, 22)."""
    channels = torch.zeros(sk.NUM_PARTS, sk.FEATURE_DIM, dtype=torch.bool)
    joints = torch.zeros(sk.NUM_PARTS, sk.NUM_JOINTS, dtype=torch.bool)
    for p, name in enumerate(sk.PART_NAMES):
        channels[p, torch.as_tensor(sk.PART_CHANNELS[name])] = True
        joints[p, list(sk.PART_JOINTS[name])] = True
    return channels, joints


# ---------------------------------------------------------------------------------------------
# Networks

class ResBlock(nn.Module):
    """act -> dilated conv k3 -> act -> conv k1, added to the input."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x):  # (B, W, T)
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


def _res_stack(width: int, depth: int) -> nn.Sequential:
    dilations = [3 ** i for i in reversed(range(depth))]  # 9, 3, 1 like MARDM for depth 3
    return nn.Sequential(*[ResBlock(width, d) for d in dilations])


class Encoder(nn.Module):
    """(B, D_in, T) -> (B, 2C, T/4)."""

    def __init__(self, in_dim: int, cfg: PVAEConfig):
        super().__init__()
        w = cfg.width
        self.conv_in = nn.Conv1d(in_dim, w, 3, padding=1)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv1d(w, w, 4, stride=2, padding=1), _res_stack(w, cfg.depth)) for _ in range(2)
        )
        self.conv_out = nn.Conv1d(w, 2 * cfg.latent_dim, 3, padding=1)

    def forward(self, x, part_emb=None):
        h = self.conv_in(x)
        if part_emb is not None:
            h = h + part_emb.unsqueeze(-1)
        h = F.silu(h)
        for stage in self.stages:
            h = stage(h)
        return self.conv_out(F.silu(h))


class Decoder(nn.Module):
    """(B, C, N) -> (B, D_out, 4N)."""

    def __init__(self, out_dim: int, cfg: PVAEConfig):
        super().__init__()
        w = cfg.width
        self.conv_in = nn.Conv1d(cfg.latent_dim, w, 3, padding=1)
        self.stages = nn.ModuleList(
            nn.Sequential(_res_stack(w, cfg.depth), nn.Upsample(scale_factor=2, mode="nearest"),
                          nn.Conv1d(w, w, 3, padding=1))
            for _ in range(2)
        )
        self.conv_out = nn.Conv1d(w, out_dim, 3, padding=1)

    def forward(self, z, part_emb=None):
        h = self.conv_in(z)
        if part_emb is not None:
            h = h + part_emb.unsqueeze(-1)
        for stage in self.stages:
            h = stage(h)
        return self.conv_out(F.silu(h))


class PVAE(nn.Module):
    def __init__(self, cfg: PVAEConfig):
        super().__init__()
        self.cfg = cfg
        P, D = cfg.num_parts, cfg.input_dim
        flags = 1 if cfg.part_decomposition else sk.NUM_PARTS  # credibility flag channels at the input
        n_codecs = P if (cfg.part_decomposition and not cfg.shared_parameters) else 1
        self.encoders = nn.ModuleList(Encoder(D + flags, cfg) for _ in range(n_codecs))
        self.decoders = nn.ModuleList(Decoder(D, cfg) for _ in range(n_codecs))
        use_emb = cfg.part_embed and cfg.part_decomposition and cfg.shared_parameters
        self.part_emb_enc = nn.Parameter(torch.zeros(P, cfg.width)) if use_emb else None
        self.part_emb_dec = nn.Parameter(torch.zeros(P, cfg.width)) if use_emb else None

        index, index_valid, part_joints = _part_tables(cfg.part_decomposition)
        self.register_buffer("part_index", index, persistent=False)  # (P, D)
        self.register_buffer("part_index_valid", index_valid, persistent=False)  # (P, D)
        self.register_buffer("part_joints", part_joints, persistent=False)  # (P, 22)
        root = torch.zeros(sk.FEATURE_DIM + 1)
        root[sk.ROOT_SLICE] = cfg.root_weight - 1.0
        self.register_buffer("recon_weight", 1.0 + root[index], persistent=False)  # (P, D)
        count = torch.zeros(sk.FEATURE_DIM + 1).index_add_(0, index.flatten(), torch.ones(index.numel()))
        self.register_buffer("merge_count", count[: sk.FEATURE_DIM].clamp_min(1), persistent=False)  # (263,)
        channel_parts, joint_parts = _membership()
        self.register_buffer("channel_parts", channel_parts, persistent=False)  # (5, 263)
        self.register_buffer("joint_parts", joint_parts, persistent=False)  # (5, 22)
        # Normalisation stats live in the model directory's stats.safetensors; set_stats() hands them in.
        self.register_buffer("feat_mean", torch.zeros(sk.FEATURE_DIM), persistent=False)
        self.register_buffer("feat_std", torch.ones(sk.FEATURE_DIM), persistent=False)
        self.has_stats = False
        self._init_weights()

    def _init_weights(self):
        for codec in list(self.encoders) + list(self.decoders):
            for m in codec.modules():
                if isinstance(m, ResBlock):  # blocks start as identity maps
                    nn.init.zeros_(m.conv2.weight)
                    nn.init.zeros_(m.conv2.bias)
        if self.part_emb_enc is not None:
            nn.init.normal_(self.part_emb_enc, std=0.02)
            nn.init.normal_(self.part_emb_dec, std=0.02)

    def set_stats(self, mean, std) -> None:
        """Normalisation stats (263,) used to turn decoded features into metres for the position loss."""
        self.feat_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feat_std.copy_(torch.as_tensor(std, dtype=torch.float32))
        self.has_stats = True

    # -- part slicing ------------------------------------------------------------------------------
    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(..., 263) -> (..., P, D) part vectors, zero-padded."""
        x = torch.cat([x, x.new_zeros(x.shape[:-1] + (1,))], dim=-1)
        return x[..., self.part_index]

    def merge(self, parts: torch.Tensor) -> torch.Tensor:
        """(..., P, D) -> (..., 263); shared channels averaged (skeleton.merge_parts semantics)."""
        flat = parts.flatten(-2)  # (..., P*D)
        out = flat.new_zeros(flat.shape[:-1] + (sk.FEATURE_DIM + 1,))
        out = out.index_add(-1, self.part_index.flatten(), flat)
        return out[..., : sk.FEATURE_DIM] / self.merge_count

    def _input_mask(self, frame_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, 5) credible -> (B, T, P, D) which input channels the encoder may see."""
        if self.cfg.part_decomposition:
            return frame_mask.unsqueeze(-1).expand(-1, -1, -1, self.cfg.input_dim)
        # a channel is kept if any credible part carries it
        seen = (frame_mask.float() @ self.channel_parts.float()) > 0
        return seen.unsqueeze(-2)

    # -- codec -------------------------------------------------------------------------------------
    def _run(self, nets: nn.ModuleList, x: torch.Tensor, part_emb) -> torch.Tensor:
        """Apply a codec to (B, P, D, T) part sequences -> (B, P, D', T')."""
        B, P = x.shape[:2]
        if len(nets) == 1:
            emb = None if part_emb is None else part_emb.repeat(B, 1)  # (B*P, W)
            y = nets[0](x.flatten(0, 1), emb)
            return y.unflatten(0, (B, P))
        return torch.stack([net(x[:, p]) for p, net in enumerate(nets)], dim=1)

    def encode(self, x_norm: torch.Tensor, frame_mask: torch.Tensor | None = None):
        """x_norm (B, T, 263), frame_mask (B, T, 5) bool (None = all credible)
        -> mu, logvar (B, T//4, P, C)."""
        B, T, _ = x_norm.shape
        if T % sk.TOKEN_FRAMES:
            raise ValueError(f"P-VAE input length {T} is not a multiple of {sk.TOKEN_FRAMES} frames")
        if frame_mask is None:
            frame_mask = torch.ones(B, T, sk.NUM_PARTS, dtype=torch.bool, device=x_norm.device)
        seen = self._input_mask(frame_mask)  # (B, T, P, D)
        parts = self.split(x_norm) * seen  # noisy cells never reach the encoder
        if self.cfg.part_decomposition:
            flags = frame_mask.unsqueeze(-1).to(parts.dtype)  # (B, T, 5, 1)
        else:
            flags = frame_mask.unsqueeze(-2).to(parts.dtype)  # (B, T, 1, 5)
        h = torch.cat([parts, flags], dim=-1).permute(0, 2, 3, 1)  # (B, P, D+f, T)
        stats = self._run(self.encoders, h, self.part_emb_enc)  # (B, P, 2C, N)
        mu, logvar = stats.permute(0, 3, 1, 2).chunk(2, dim=-1)  # (B, N, P, C) each
        return mu, logvar.clamp(-30.0, 20.0)

    def decode_parts(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, N, P, C) -> per-part vectors (B, 4N, P, D) (padding channels are meaningless)."""
        y = self._run(self.decoders, z.permute(0, 2, 3, 1), self.part_emb_dec)  # (B, P, D, 4N)
        return y.permute(0, 3, 1, 2)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, N, P, C) -> x_norm (B, 4N, 263)."""
        return self.merge(self.decode_parts(z) * self.part_index_valid)

    def reconstruct(self, x_norm, frame_mask=None) -> torch.Tensor:
        """Deterministic encode (mu) + decode: (B, T, 263) -> (B, T, 263)."""
        mu, _ = self.encode(x_norm, frame_mask)
        return self.decode(mu)

    # -- training ----------------------------------------------------------------------------------
    def loss(self, x_norm: torch.Tensor, frame_mask: torch.Tensor, valid: torch.Tensor | None = None,
             generator: torch.Generator | None = None):
        """x_norm (B, T, 263), frame_mask (B, T, 5) bool, valid (B, T) bool -> (scalar loss, logs dict).

        Every term is averaged over the credible (part, frame) cells of valid frames only."""
        if not self.has_stats:
            raise RuntimeError("PVAE.loss needs set_stats(mean, std) first (for the joint-position term)")
        B, T, _ = x_norm.shape
        if valid is None:
            valid = torch.ones(B, T, dtype=torch.bool, device=x_norm.device)
        frame_mask = frame_mask & valid.unsqueeze(-1)
        mu, logvar = self.encode(x_norm, frame_mask)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        pred = self.decode_parts(z)  # (B, T, P, D)

        cells, chan_w, joint_w, token_w = self._loss_weights(frame_mask)
        recon = self._recon_term(pred, self.split(x_norm), chan_w * self.recon_weight)
        local, glob, geometry = self._position_terms(pred, x_norm, cells, joint_w)
        kl = _weighted_mean(0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1), token_w)
        cfg = self.cfg
        loss = recon + cfg.position_weight * local + cfg.global_weight * glob + cfg.kl_weight * kl
        logs = {"recon": recon.detach(), "pos_mm": 1000 * local.detach(), "global_mm": 1000 * glob.detach(),
                "kl": kl.detach(), "credible": frame_mask.float().mean().detach()}
        for name, (weight, value) in self._physical_terms(x_norm, geometry, joint_w).items():
            loss = loss + weight * value
            logs[f"{name}_mm"] = 1000 * value.detach()
        return loss, logs

    def _physical_terms(self, x_norm, geometry, joint_w) -> dict:
        """The enabled terms of motion_losses as {name: (weight, value in metres)}."""
        cfg = self.cfg
        pred_local, true_local, pred_world, true_world = geometry
        world_w = joint_w.transpose(1, 2)  # (B, P, T, 22)
        terms = {}
        if cfg.velocity_weight:
            terms["vel"] = (cfg.velocity_weight, ml.velocity_error(pred_world, true_world, world_w))
        if cfg.accel_weight:
            terms["acc"] = (cfg.accel_weight, ml.acceleration_error(pred_world, true_world, world_w))
        if cfg.contact_weight:
            contacts = (x_norm * self.feat_std + self.feat_mean)[..., sk.CONTACT_SLICE].unsqueeze(1)
            terms["slide"] = (cfg.contact_weight, ml.foot_contact_slide(pred_world, contacts, world_w))
        if cfg.foot_height_weight:
            terms["foot_y"] = (cfg.foot_height_weight, ml.foot_height_error(pred_world, true_world, world_w))
        if cfg.bone_weight:
            terms["bone"] = (cfg.bone_weight, ml.bone_length_error(pred_local, true_local, joint_w))
        return terms

    def _loss_weights(self, frame_mask: torch.Tensor):
        """(B, T, 5) credible -> the cells (B, T, P) and weights of the decoded channels (B, T, P, D), of
        the joints (B, T, P, 22) and of the tokens (B, N, P). Without parts, a channel/joint of a frame
        counts when any credible part carries it; the frame's cell counts when any part is credible."""
        m = frame_mask.float()
        if self.cfg.part_decomposition:
            cells = m
            chan_w = m.unsqueeze(-1) * self.part_index_valid
            joint_w = m.unsqueeze(-1) * self.part_joints
            token_w = m.unflatten(1, (-1, sk.TOKEN_FRAMES)).mean(2)
        else:
            cells = frame_mask.any(-1, keepdim=True).float()
            chan_w = ((m @ self.channel_parts.float()) > 0).float().unsqueeze(-2)
            joint_w = ((m @ self.joint_parts.float()) > 0).float().unsqueeze(-2)
            token_w = frame_mask.any(-1, keepdim=True).float().unflatten(1, (-1, sk.TOKEN_FRAMES)).mean(2)
        return cells, chan_w, joint_w, token_w

    def _recon_term(self, pred, target, chan_w):
        fn = F.smooth_l1_loss if self.cfg.recon == "smooth_l1" else F.mse_loss
        return _weighted_mean(fn(pred, target, reduction="none"), chan_w)

    def _position_terms(self, pred, x_norm, cells, joint_w):
        """Mean joint distances (metres) of each part's decoded joints: in the frame's own facing frame
        (local) and in the world after integrating the root path over the window (global). For the
        global path a part's noisy cells take the target's values, so they add no gradient and no error."""
        mean, std = self.feat_mean, self.feat_std
        views = self.merge_view(pred)  # (B, T, P, 263) each part's own channels, normalised
        target = x_norm.unsqueeze(2)  # (B, T, 1, 263)
        pred_local, true_local = local_joints(views * std + mean), local_joints(target * std + mean)
        local = _weighted_mean((pred_local - true_local).norm(dim=-1), joint_w)  # (B, T, P, 22)
        filled = torch.where(cells.unsqueeze(-1) > 0, views, target).transpose(1, 2)  # (B, P, T, 263)
        pred_world = recover_from_ric(filled * std + mean)  # (B, P, T, 22, 3)
        true_world = recover_from_ric(target.transpose(1, 2) * std + mean)
        glob = _weighted_mean((pred_world - true_world).norm(dim=-1).transpose(1, 2), joint_w)
        return local, glob, (pred_local, true_local, pred_world, true_world)

    def merge_view(self, pred: torch.Tensor) -> torch.Tensor:
        """(B, T, P, D) -> (B, T, P, 263): each part's vector scattered into its own channels."""
        out = pred.new_zeros(pred.shape[:-1] + (sk.FEATURE_DIM + 1,))
        idx = self.part_index.expand(pred.shape[:-2] + self.part_index.shape)
        return out.scatter(-1, idx, pred)[..., : sk.FEATURE_DIM]



def _weighted_mean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    w = w.expand_as(x)
    return (x * w).sum() / w.sum().clamp_min(1.0)


def mpjpe_mm(pred_features: torch.Tensor, true_features: torch.Tensor, valid: torch.Tensor | None = None
             ) -> float:
    """Mean per-joint position error in mm between (B, T, 263) un-normalised feature sequences,
    joints recovered globally (recover_from_ric, root path included)."""
    err = (recover_from_ric(pred_features) - recover_from_ric(true_features)).norm(dim=-1).mean(-1)  # (B, T)
    if valid is not None:
        return float(1000 * err[valid].mean()) if valid.any() else math.nan
    return float(1000 * err.mean())
