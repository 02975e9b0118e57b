"""The TMR-style text-motion retrieval model (Petrovich et al. 2023) at inference: its config, its motion and
text encoders, loading a trained one and embedding motions and texts. Two users: the FID / R-precision judge
of training/evaluation (trained there, training/evaluation/evaluator.py holds its loss) and the agreement
judge a model directory carries (ropar_core/agreement.py).

- Motion encoder: normalised 263-d features (optionally `patch_frames` frames per token) -> Linear -> two
  learned tokens (mu, logvar) in front, sinusoidal positions, a small transformer encoder with a padding
  mask -> mu, logvar (latent).
- Text encoder: the frozen sentence embedding of `ropar_core.text.TextEncoder` -> a small trainable MLP ->
  mu, logvar. (TMR runs a transformer over per-token DistilBERT states; our frozen encoder gives pooled
  vectors, so an MLP on top is the natural head.)
- Embeddings handed to the metrics are the L2-normalised means mu/|mu| ("embed_*"): the contrastive loss
  only shapes directions, so Euclidean distances on the unit sphere rank exactly like the cosine.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ropar_core import checkpoint
from ropar_core.errors import ModelError, RoparError
from ropar_core.skeleton import FEATURE_DIM

WEIGHTS_NAME = "evaluator.safetensors"
STD_FLOOR = 1e-3  # channels that never move in the training data (e.g. a constant contact) stay finite


@dataclass
class EvaluatorConfig:
    feature_dim: int = FEATURE_DIM
    text_dim: int = 384
    latent_dim: int = 256
    width: int = 256
    layers: int = 4
    heads: int = 4
    ff_dim: int = 1024
    dropout: float = 0.1
    text_hidden: int = 512
    max_frames: int = 196  # longer motions are cut to their first max_frames frames
    # Frames per encoder token. TMR uses 1; 4 (one P-VAE token's span, like Guo's evaluator's 4x conv
    # downsampling) makes attention 16x cheaper, which is what lets it train on a shared CPU.
    patch_frames: int = 1
    temperature: float = 0.1
    # Which pairs are not negatives (negative_mask in training/evaluation/evaluator.py): "label" keeps the
    # left/right and style negatives that TMR's "cosine" rule would drop on our captions
    # (docs/evaluation.md has the measurement).
    negative_filter: str = "label"
    negative_threshold: float = 0.6
    kl_weight: float = 1e-5
    recon_weight: float = 0.0  # > 0 adds TMR's motion decoder; 0 builds none
    # Initial log-variance of both posteriors: small, so that a short run's sampled latents are not mostly
    # noise (docs/evaluation.md); the contrastive loss is still computed on samples, as in TMR.
    init_logvar: float = -6.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EvaluatorConfig:
        cfg = checkpoint.config_from_dict(cls, data, "evaluator")
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.width % self.heads:
            raise ModelError(f"evaluator width {self.width} is not divisible by heads {self.heads}")
        if self.negative_filter not in ("label", "cosine"):
            raise ModelError(f"evaluator negative_filter must be label|cosine, got {self.negative_filter!r}")
        sizes = (self.latent_dim, self.width, self.layers, self.heads, self.max_frames, self.text_dim,
                 self.patch_frames)
        if min(sizes) < 1:
            raise ModelError("evaluator sizes must be positive")
        if self.temperature <= 0:
            raise ModelError("evaluator temperature must be > 0")


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """(length, dim) fixed sin/cos position table (Vaswani et al.)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table


class MotionEncoder(nn.Module):
    """ACTOR-style: (B, T, 263) normalised features + valid (B, T) -> mu, logvar (B, latent)."""

    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.patch = cfg.patch_frames
        self.proj = nn.Linear(cfg.feature_dim * cfg.patch_frames, cfg.width)
        self.dist_tokens = nn.Parameter(torch.randn(2, cfg.width) * 0.02)
        max_tokens = -(-cfg.max_frames // cfg.patch_frames)
        self.register_buffer("pos", sinusoidal_positions(max_tokens + 2, cfg.width), persistent=False)
        layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, cfg.ff_dim, cfg.dropout, activation="gelu",
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.to_mu = nn.Linear(cfg.width, cfg.latent_dim)
        self.to_logvar = nn.Linear(cfg.width, cfg.latent_dim)
        nn.init.constant_(self.to_logvar.bias, cfg.init_logvar)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, d = x.shape
        extra = -t % self.patch
        if extra:  # pad to whole patches; a patch counts as valid when any of its frames is
            x = F.pad(x * valid[..., None], (0, 0, 0, extra))
            valid = F.pad(valid, (0, extra))
        n = x.shape[1] // self.patch
        x = x.reshape(b, n, self.patch * d)  # (B, N, patch*263): consecutive frames side by side
        valid = valid.reshape(b, n, self.patch).any(-1)  # (B, N)
        h = torch.cat([self.dist_tokens.expand(b, 2, -1), self.proj(x)], dim=1)  # (B, N+2, W)
        h = h + self.pos[: n + 2]
        pad = torch.cat([torch.zeros(b, 2, dtype=torch.bool, device=x.device), ~valid], dim=1)  # (B, N+2)
        h = self.encoder(h, src_key_padding_mask=pad)
        return self.to_mu(h[:, 0]), self.to_logvar(h[:, 1])


class TextHead(nn.Module):
    """Frozen sentence embedding (B, D) -> mu, logvar (B, latent)."""

    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(cfg.text_dim, cfg.text_hidden), nn.GELU(), nn.Dropout(cfg.dropout),
            nn.Linear(cfg.text_hidden, cfg.text_hidden), nn.GELU(),
            nn.Linear(cfg.text_hidden, 2 * cfg.latent_dim),
        )
        with torch.no_grad():
            self.net[-1].bias[cfg.latent_dim:] = cfg.init_logvar

    def forward(self, text_emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(text_emb).chunk(2, dim=-1)
        return mu, logvar


class MotionDecoder(nn.Module):
    """TMR's decoder: positional queries attend to the single latent -> (B, T, 263) normalised features."""

    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.from_latent = nn.Linear(cfg.latent_dim, cfg.width)
        self.register_buffer("pos", sinusoidal_positions(cfg.max_frames, cfg.width), persistent=False)
        layer = nn.TransformerDecoderLayer(cfg.width, cfg.heads, cfg.ff_dim, cfg.dropout, activation="gelu",
                                           batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, cfg.layers)
        self.out = nn.Linear(cfg.width, cfg.feature_dim)

    def forward(self, z: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        b, t = valid.shape
        queries = self.pos[:t].expand(b, t, -1)  # (B, T, W)
        memory = self.from_latent(z)[:, None]  # (B, 1, W)
        h = self.decoder(queries, memory, tgt_key_padding_mask=~valid)
        return self.out(h) * valid[..., None]


class Evaluator(nn.Module):
    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.motion_encoder = MotionEncoder(cfg)
        self.text_head = TextHead(cfg)
        self.decoder = MotionDecoder(cfg) if cfg.recon_weight > 0 else None

    @torch.no_grad()
    def embed_motion(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.motion_encoder(x, valid)[0], dim=-1)

    @torch.no_grad()
    def embed_text(self, text_emb: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_head(text_emb)[0], dim=-1)


# ----------------------------------------------------------------------------------------------------
# Padding helpers shared by training and evaluation


def pad_batch(features: list[np.ndarray], mean: np.ndarray, std: np.ndarray, max_frames: int):
    """Un-normalised (T_i, 263) arrays -> normalised x (B, T, 263) and valid (B, T) tensors (first
    max_frames frames of each)."""
    lengths = [min(len(f), max_frames) for f in features]
    if min(lengths) < 1:
        raise RoparError("cannot embed an empty motion")
    t = max(lengths)
    x = np.zeros((len(features), t, FEATURE_DIM), np.float32)
    valid = np.zeros((len(features), t), bool)
    for i, (f, n) in enumerate(zip(features, lengths)):
        f = np.asarray(f, np.float32)
        if f.ndim != 2 or f.shape[1] != FEATURE_DIM:
            raise RoparError(f"motion features must be (T, {FEATURE_DIM}), got {f.shape}")
        if not np.isfinite(f[:n]).all():
            raise RoparError("motion features contain NaN or inf")
        x[i, :n] = (f[:n] - mean) / std
        valid[i, :n] = True
    return torch.from_numpy(x), torch.from_numpy(valid)


# ----------------------------------------------------------------------------------------------------
# The judge as other modules use it


class TextMotionEvaluator:
    """A trained evaluator with its own normalisation stats and text encoder.

        ev = TextMotionEvaluator.from_dir("runs/evaluator")
        m = ev.embed_motions([features (T, 263) un-normalised, ...])   # (N, latent) numpy, unit norm
        t = ev.embed_texts(["a person walks", ...])                    # (N, latent) numpy, unit norm
    """

    def __init__(self, model: Evaluator, mean: np.ndarray, std: np.ndarray, text_encoder, config: dict,
                 device: str | torch.device = "cpu"):
        self.model = model.to(device).eval()
        self.mean = np.asarray(mean, np.float32)
        self.std = np.maximum(np.asarray(std, np.float32), STD_FLOOR)
        self.text_encoder = text_encoder
        self.config = config
        self.device = torch.device(device)

    @classmethod
    def from_dir(cls, model_dir: str | os.PathLike, device: str = "cpu", text_encoder=None):
        config = checkpoint.load_config(model_dir)
        if "evaluator" not in config:
            raise ModelError(f"{model_dir} is not an evaluator directory (config.json has no 'evaluator')")
        model = Evaluator(EvaluatorConfig.from_dict(config["evaluator"]))
        checkpoint.load_module_weights(model, Path(model_dir) / WEIGHTS_NAME)
        mean, std = checkpoint.load_stats(model_dir)
        if text_encoder is None:
            from ropar_core.text import TextEncoder

            text_encoder = TextEncoder(config.get("text_encoder"), device=device)
        if text_encoder.dim != model.cfg.text_dim:
            raise ModelError(f"text encoder gives {text_encoder.dim}-d vectors; the evaluator expects "
                             f"{model.cfg.text_dim}")
        return cls(model, mean, std, text_encoder, config, device)

    def save(self, model_dir: str | os.PathLike, train: dict | None = None) -> None:
        """Weights, stats, then config.json last, so a directory with a config is always complete."""
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        checkpoint.save_weights(model_dir / WEIGHTS_NAME, self.model.state_dict())
        checkpoint.save_stats(model_dir, self.mean, self.std)
        config = {k: v for k, v in self.config.items() if k != "format_version"}
        config["evaluator"] = self.model.cfg.to_dict()
        if train is not None:
            config["train"] = train
        checkpoint.save_config(model_dir, config)
        self.config = checkpoint.load_config(model_dir)

    def embed_motions(self, features: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
        out = []
        for i in range(0, len(features), batch_size):
            x, valid = pad_batch(features[i:i + batch_size], self.mean, self.std, self.model.cfg.max_frames)
            out.append(self.model.embed_motion(x.to(self.device), valid.to(self.device)).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.cfg.latent_dim), np.float32)

    def embed_texts(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch_size):
            emb = self.text_encoder.encode(list(texts[i:i + batch_size])).to(self.device)  # (B, D)
            out.append(self.model.embed_text(emb).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.cfg.latent_dim), np.float32)
