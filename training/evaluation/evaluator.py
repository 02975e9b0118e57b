"""The TMR-style judge as training uses it: its contrastive loss, and the clips of a cache it sees. The model
itself (config, encoders, loading, embedding) lives in ropar_core/evaluator.py and is re-exported here. It
is trained on clean data only and never shares weights with the models it judges.

- Loss: symmetric InfoNCE on the cosine similarity of sampled latents, temperature 0.1, with hard-negative
  filtering (pairs that describe the same thing are not negatives, see `negative_mask`), plus TMR's small
  KL terms and optionally TMR's motion decoder (reconstruction from either latent).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ropar_core.errors import RoparError
from ropar_core.evaluator import (  # noqa: F401  (re-exported: training's imports of the judge)
    STD_FLOOR,
    WEIGHTS_NAME,
    Evaluator,
    EvaluatorConfig,
    MotionDecoder,
    MotionEncoder,
    TextHead,
    TextMotionEvaluator,
    pad_batch,
    sinusoidal_positions,
)


def _kl(mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)), averaged over elements."""
    var_ratio = (logvar_q - logvar_p).exp()
    return 0.5 * (var_ratio + (mu_q - mu_p) ** 2 / logvar_p.exp() - 1.0 - (logvar_q - logvar_p)).mean()


def negative_mask(cfg: EvaluatorConfig, text_emb: torch.Tensor, captions=None, labels=None) -> torch.Tensor:
    """(B, B) bool: True where pair (i, j), i != j, must NOT be used as a negative.

    Identical captions are never negatives. With labels (hashable per sample, e.g. (content, style)) and
    negative_filter == "label", equal labels are not negatives; otherwise (TMR) pairs whose frozen sentence
    embeddings have cosine > negative_threshold are not."""
    b = text_emb.shape[0]
    same = torch.zeros(b, b, dtype=torch.bool, device=text_emb.device)
    if captions is not None:
        caps = list(captions)
        same |= torch.tensor([[ci == cj for cj in caps] for ci in caps], device=text_emb.device)
    if cfg.negative_filter == "label" and labels is not None and all(lab is not None for lab in labels):
        labs = list(labels)
        same |= torch.tensor([[li == lj for lj in labs] for li in labs], device=text_emb.device)
    else:
        unit = F.normalize(text_emb, dim=-1)
        same |= unit @ unit.T > cfg.negative_threshold
    same.fill_diagonal_(False)
    return same


def contrastive_loss(model: Evaluator, x: torch.Tensor, valid: torch.Tensor, text_emb: torch.Tensor,
                     captions=None, labels=None):
    """x (B, T, 263) normalised, valid (B, T) bool, text_emb (B, D) frozen sentence embeddings."""
    mu_m, logvar_m = model.motion_encoder(x, valid)
    mu_t, logvar_t = model.text_head(text_emb)
    z_m = mu_m + torch.randn_like(mu_m) * (0.5 * logvar_m).exp()  # reparameterised samples, as TMR
    z_t = mu_t + torch.randn_like(mu_t) * (0.5 * logvar_t).exp()
    sim = F.normalize(z_t, dim=-1) @ F.normalize(z_m, dim=-1).T / model.cfg.temperature  # (B, B)
    sim = sim.masked_fill(negative_mask(model.cfg, text_emb, captions, labels), float("-inf"))
    target = torch.arange(x.shape[0], device=x.device)
    contrastive = 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target))
    zeros = torch.zeros_like(mu_m)
    kl = (_kl(mu_t, logvar_t, mu_m, logvar_m) + _kl(mu_m, logvar_m, mu_t, logvar_t)
          + _kl(mu_m, logvar_m, zeros, zeros) + _kl(mu_t, logvar_t, zeros, zeros))
    total = contrastive + model.cfg.kl_weight * kl
    logs = {"contrastive": contrastive.item(), "kl": kl.item()}
    if model.decoder is not None:
        mask = valid[..., None].float()
        denom = mask.sum() * x.shape[-1]
        recon = sum(
            (F.smooth_l1_loss(model.decoder(z, valid), x, reduction="none") * mask).sum() / denom
            for z in (z_m, z_t)
        )
        total = total + model.cfg.recon_weight * recon
        logs["recon"] = recon.item()
    logs["loss"] = total.item()
    return total, logs



# ----------------------------------------------------------------------------------------------------
# Whole clips of a cache split, as the judge sees them


@dataclass
class EvalClip:
    id: str
    features: np.ndarray  # (T, 263) un-normalised; the clean ground truth in a noisy cache
    texts: list[str]
    label: tuple | None  # (content, style) when the source has them, else None
    repeat: int = 1  # the cache's per-clip sampling weight (training.prepare_multi); train(weighted=True)


def load_clips(cache_dir: str | os.PathLike, split: str, min_frames: int = 1) -> list[EvalClip]:
    """Clips of one split of a cache (training.data.cache format). In a noisy cache the clean ground truth is
    returned: the judge and the real reference never see the corruption."""
    from training.data.cache import Cache

    cache = Cache(cache_dir)
    clips = []
    for i in cache.indices(split):
        rec = cache.clips[i]
        if rec["length"] < min_frames:
            continue
        if not rec.get("texts"):
            raise RoparError(f"{cache_dir}: clip {rec.get('id')} has no captions")
        content, style = rec.get("content") or None, rec.get("style") or None
        label = (content, style) if content is not None and style is not None else None
        clips.append(EvalClip(str(rec["id"]), cache.clip_clean_features(i), list(rec["texts"]), label,
                              max(1, int(rec.get("repeat", 1)))))
    if not clips:
        raise RoparError(f"{cache_dir} has no '{split}' clips of at least {min_frames} frames")
    return clips
