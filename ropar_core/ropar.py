"""RoPAR: robust part-aware masked autoregressive generation (paper §2.4, DESIGN §5).

A bidirectional transformer reads the (time x part) grid of P-VAE latent tokens, flattened to N*P
tokens: Linear(C -> width), [M] where masked, plus learned time and part embeddings. The text embedding
conditions every block through AdaLN-Zero (dropped to a learned null embedding 10 % of the time for
classifier-free guidance). For each masked token a diffusion head samples the latent from the
transformer's output z_hat.

Training masks tokens with the part-aware rule (ropar_core.masking, Eq. 2): noisy tokens are always
masked and never in the loss. Generation unmasks all tokens over a few steps in a random order with
the cosine schedule; `known` tokens (editing) are fixed from the start.

Latents are normalised inside the model with per-(part, channel) stats of the training latents
(buffers saved with the weights), so callers always pass and receive raw P-VAE latents.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ropar_core import skeleton as sk
from ropar_core.checkpoint import config_from_dict
from ropar_core.diffusion import DiffusionHead, RegressionHead, modulate
from ropar_core.masking import part_aware_mask, unmask_schedule

# Sampling defaults a model directory stores in config.json "sampling" (the Generator falls back to them).
DEFAULT_CFG_SCALE = 3.0  # classifier-free guidance
DEFAULT_UNMASK_STEPS = 10  # iterative unmasking steps over the token grid


@dataclass
class RoPARConfig:
    latent_dim: int = 16  # C (the P-VAE's)
    part_decomposition: bool = True  # False: P = 1 full-body tokens (the matching P-VAE ablation)
    text_dim: int = 384
    width: int = 256
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.1
    max_time_tokens: int = 64  # N limit: 64 tokens = 256 frames = 12.8 s at 20 fps
    cond_drop: float = 0.1  # text dropout for classifier-free guidance
    # conditioning augmentation (training only): Gaussian noise of this std per text channel, then back to
    # unit length, so that each caption conditions a neighbourhood and a paraphrase lands inside one
    text_noise: float = 0.0
    diffusion_head: bool = True  # False: direct regression head (ablation)
    head_width: int = 256
    head_depth: int = 3
    diffusion_steps: int = 1000  # the head's TRAINING noise levels (its cosine schedule's length)
    sample_steps: int = 12  # DDIM steps per token at generation (speed: ~1 s per 196 frames on CPU)
    head_batch_mul: int = 4

    @property
    def num_parts(self) -> int:
        return sk.NUM_PARTS if self.part_decomposition else 1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RoPARConfig:
        return config_from_dict(cls, d, "RoPAR", error=ValueError)


ROPAR_PRESETS = {
    "tiny": dict(width=64, depth=2, heads=2, head_width=64, head_depth=2),  # tests
    "mini": dict(width=128, depth=3, heads=4, head_width=128, head_depth=2, head_batch_mul=2),  # CPU training
    "small": dict(width=256, depth=4, heads=4, head_width=256, head_depth=3),  # CPU inference default
    "base": dict(width=512, depth=8, heads=8, head_width=768, head_depth=6),  # GPU
}


class Block(nn.Module):
    """Pre-LN transformer block with AdaLN-Zero conditioning (shift/scale/gate from the text)."""

    def __init__(self, cfg: RoPARConfig):
        super().__init__()
        w = cfg.width
        self.heads = cfg.heads
        self.norm1 = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(w, 3 * w)
        self.proj = nn.Linear(w, w)
        self.norm2 = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        hidden = int(w * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(w, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, w))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(w, 6 * w))
        self.dropout = cfg.dropout

    def attention(self, x, attn_mask):  # x (B, L, W), attn_mask (B, 1, 1, L) bool, True = attend
        B, L, W = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.heads, W // self.heads).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=drop)  # (B, H, L, W/H)
        return self.proj(y.transpose(1, 2).reshape(B, L, W))

    def forward(self, x, c, attn_mask):
        s1, b1, g1, s2, b2, g2 = self.ada(c).unsqueeze(1).chunk(6, dim=-1)  # each (B, 1, W)
        x = x + g1 * F.dropout(self.attention(modulate(self.norm1(x), b1, s1), attn_mask), self.dropout,
                               self.training)
        x = x + g2 * F.dropout(self.mlp(modulate(self.norm2(x), b2, s2)), self.dropout, self.training)
        return x


class RoPAR(nn.Module):
    def __init__(self, cfg: RoPARConfig):
        super().__init__()
        self.cfg = cfg
        P, C, W = cfg.num_parts, cfg.latent_dim, cfg.width
        if W % cfg.heads:
            raise ValueError(f"width {W} is not divisible by heads {cfg.heads}")
        self.token_in = nn.Linear(C, W)
        self.mask_token = nn.Parameter(torch.zeros(W))
        self.time_emb = nn.Parameter(torch.zeros(cfg.max_time_tokens, W))
        self.part_emb = nn.Parameter(torch.zeros(P, W))
        self.text_in = nn.Linear(cfg.text_dim, W)
        self.null_text = nn.Parameter(torch.zeros(cfg.text_dim))  # the "no text" condition (CFG)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(W, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(W, 2 * W))
        head_cls = DiffusionHead if cfg.diffusion_head else RegressionHead
        self.head = head_cls(C, W, width=cfg.head_width, depth=cfg.head_depth,
                             train_steps=cfg.diffusion_steps, sample_steps=cfg.sample_steps,
                             batch_mul=cfg.head_batch_mul)
        # Latent normalisation (set from the training latents by set_latent_stats; saved with the weights).
        self.register_buffer("latent_mean", torch.zeros(P, C))
        self.register_buffer("latent_std", torch.ones(P, C))
        self._init_weights()

    def _init_weights(self):
        for m in [self.token_in, self.text_in, *[b for blk in self.blocks for b in (blk.qkv, blk.proj)],
                  *[blk.mlp[i] for blk in self.blocks for i in (0, 2)]]:
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        for p in (self.mask_token, self.time_emb, self.part_emb, self.null_text):
            nn.init.normal_(p, std=0.02)
        for ada in [blk.ada for blk in self.blocks] + [self.ada_out]:  # AdaLN-Zero
            nn.init.zeros_(ada[-1].weight)
            nn.init.zeros_(ada[-1].bias)
        # the head initialises itself (zero AdaLN / output layers)

    @property
    def device(self) -> torch.device:
        return self.mask_token.device

    def set_latent_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-(part, channel) mean/std (P, C) of the training latents."""
        self.latent_mean.copy_(mean)
        self.latent_std.copy_(std.clamp_min(1e-4))

    def normalise(self, z):
        return (z - self.latent_mean) / self.latent_std

    def denormalise(self, z):
        return z * self.latent_std + self.latent_mean

    # -- transformer -------------------------------------------------------------------------------
    def condition(self, text_emb: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        """(B, D_text) -> (B, W); rows where `drop` is True get the null text."""
        if drop is not None:
            text_emb = torch.where(drop.unsqueeze(-1), self.null_text.to(text_emb.dtype), text_emb)
        return self.text_in(text_emb)

    def forward(self, z_norm, masked, c, valid=None):
        """z_norm (B, N, P, C) normalised tokens, masked (B, N, P) bool, c (B, W), valid (B, N) bool
        -> z_hat (B, N, P, W), the per-token condition of the head."""
        B, N, P, _ = z_norm.shape
        if N > self.cfg.max_time_tokens:
            raise ValueError(f"{N} time tokens exceed this model's limit of {self.cfg.max_time_tokens}")
        x = self.token_in(z_norm)  # (B, N, P, W)
        x = torch.where(masked.unsqueeze(-1), self.mask_token.to(x.dtype), x)
        x = x + self.time_emb[:N, None, :] + self.part_emb[None, :, :]
        x = x.flatten(1, 2)  # (B, N*P, W), time-major
        attn_mask = None
        if valid is not None:
            attn_mask = valid.repeat_interleave(P, dim=1)[:, None, None, :]  # (B, 1, 1, N*P)
        for block in self.blocks:
            x = block(x, c, attn_mask)
        shift, scale = self.ada_out(c).unsqueeze(1).chunk(2, dim=-1)
        x = modulate(self.norm_out(x), shift, scale)
        return x.unflatten(1, (N, P))

    # -- training ----------------------------------------------------------------------------------
    def loss(self, z, token_mask, valid, text_emb, generator: torch.Generator | None = None,
             text_noise: torch.Tensor | None = None):
        """z (B, N, P, C) raw latents, token_mask (B, N, P) credible, valid (B, N), text_emb (B, D)
        -> (scalar loss, logs). Only the credible tokens chosen for masking are in the loss.
        text_noise (B,): the conditioning augmentation's std per sample (None: the config's for all)."""
        B = z.shape[0]
        z_norm = self.normalise(z)
        m = part_aware_mask(token_mask.bool(), valid.bool(), generator)
        gen_device = generator.device if generator is not None else z.device
        drop = torch.rand(B, generator=generator, device=gen_device).to(z.device) < self.cfg.cond_drop
        # the plain config path decides on a float: no tensor work (and no device sync) when noise is off
        active = self.cfg.text_noise > 0 if text_noise is None else bool((text_noise > 0).any())
        if active:
            std = torch.full((B, 1), self.cfg.text_noise) if text_noise is None else text_noise.view(B, 1)
            std = std.to(text_emb)
            noise = torch.randn(text_emb.shape, generator=generator, device=gen_device).to(text_emb)
            text_emb = torch.where(std > 0, F.normalize(text_emb + std * noise, dim=-1), text_emb)
        c = self.condition(text_emb, drop)
        z_hat = self(z_norm, m["masked"], c, valid.bool())  # (B, N, P, W)
        target = m["target"]
        if target.any():
            loss = self.head.loss(z_norm[target], z_hat[target], generator=generator)
        else:  # no credible token in the batch: a zero that still touches the graph (DDP needs that)
            loss = z_hat.sum() * 0.0
        logs = {"loss": loss.detach(), "mask_ratio": m["alpha"].mean(), "noisy_ratio": m["beta"].mean(),
                "loss_tokens": target.sum().float()}
        return loss, logs

    # -- generation --------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, text_emb: torch.Tensor, num_tokens: int, cfg_scale: float = DEFAULT_CFG_SCALE,
               steps: int = DEFAULT_UNMASK_STEPS, temperature: float = 1.0,
               generator: torch.Generator | list[torch.Generator] | None = None,
               known: torch.Tensor | None = None, known_mask: torch.Tensor | None = None,
               ddim_steps: int | None = None) -> torch.Tensor:
        """text_emb (B, D) -> z (B, N, P, C) raw latents, N = num_tokens.
        Iterative unmasking over all N*P tokens in a random order (cosine schedule); tokens where
        known_mask (B, N, P) is True are taken from `known` (B, N, P, C) and never resampled.
        generator: one for the batch, or a list of B (row b draws only from generator[b], so a row's
        result does not depend on its batch mates: what the Generator's per-prompt seeds rely on).
        steps: unmasking steps; ddim_steps: the diffusion head's DDIM steps per token (None: the config's
        sample_steps)."""
        B, P, C = text_emb.shape[0], self.cfg.num_parts, self.cfg.latent_dim
        N, L, dev = num_tokens, num_tokens * self.cfg.num_parts, self.device
        if not 1 <= N <= self.cfg.max_time_tokens:
            raise ValueError(f"num_tokens must be in 1..{self.cfg.max_time_tokens}, got {N}")
        text_emb = text_emb.to(dev)
        tokens = torch.zeros(B, N, P, C, device=dev)
        masked = torch.ones(B, N, P, dtype=torch.bool, device=dev)
        if known is not None:
            if known_mask is None or known.shape != (B, N, P, C) or known_mask.shape != (B, N, P):
                raise ValueError("known (B, N, P, C) and known_mask (B, N, P) must come together")
            known_mask = known_mask.to(dev).bool()
            tokens = torch.where(known_mask.unsqueeze(-1), self.normalise(known.to(dev)), tokens)
            masked = ~known_mask

        # A random order per sample over the tokens still to generate; step i reveals the next ones.
        rows = list(generator) if isinstance(generator, (list, tuple)) else None
        if rows is not None and len(rows) != B:
            raise ValueError(f"{len(rows)} generators for a batch of {B}")
        if rows is not None:
            order = torch.stack([torch.rand(L, generator=g, device=g.device) for g in rows]).to(dev)
            generator = None  # every draw below comes from the rows' own generators
        else:
            gen_device = generator.device if generator is not None else dev
            order = torch.rand(B, L, generator=generator, device=gen_device).to(dev)
        order = order.masked_fill(~masked.flatten(1), 2.0).argsort(1).argsort(1).view(B, N, P)  # rank
        todo = masked.flatten(1).sum(1).tolist()
        plans = [unmask_schedule(n, steps) for n in todo]

        c = self.condition(text_emb)
        c_null = self.condition(text_emb, torch.ones(B, dtype=torch.bool, device=dev))
        guided = cfg_scale != 1.0
        for i in range(steps):
            left = torch.tensor([n - plan[i] for n, plan in zip(todo, plans)], device=dev)  # revealed so far
            reveal = masked & (order < left.view(B, 1, 1))  # (B, N, P)
            if not reveal.any():
                continue
            noise = None
            if rows is not None:  # the head's starting noise, row by row (reveal is row-major)
                counts = reveal.flatten(1).sum(1).tolist()
                noise = torch.cat([torch.randn(n, C, generator=g, device=g.device).to(dev)
                                   for g, n in zip(rows, counts)])
            if guided:  # one batch of 2B: with text, then with the null text
                z_hat = self(tokens.repeat(2, 1, 1, 1), masked.repeat(2, 1, 1), torch.cat([c, c_null]))
                z_hat_c, z_hat_u = z_hat.chunk(2)
                new = self.head.sample(z_hat_c[reveal], z_hat_u[reveal], cfg_scale, ddim_steps,
                                       temperature, generator, noise=noise)
            else:
                z_hat = self(tokens, masked, c)
                new = self.head.sample(z_hat[reveal], None, 1.0, ddim_steps, temperature, generator,
                                       noise=noise)
            tokens[reveal] = new.to(tokens.dtype)
            masked = masked & ~reveal
        z = self.denormalise(tokens)
        if known is not None:  # exactly the given values, not a round trip through the stats
            z = torch.where(known_mask.unsqueeze(-1), known.to(dev), z)
        return z


def build_ropar(preset: str = "small", **overrides) -> RoPAR:
    if preset not in ROPAR_PRESETS:
        raise ValueError(f"unknown RoPAR preset {preset!r}; choose from {', '.join(ROPAR_PRESETS)}")
    return RoPAR(RoPARConfig(**{**ROPAR_PRESETS[preset], **overrides}))


def num_tokens_for(frames: int) -> int:
    """Frames -> time tokens (rounded up to whole tokens)."""
    return max(1, math.ceil(frames / sk.TOKEN_FRAMES))
