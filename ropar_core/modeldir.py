"""Load and save the model directories that training writes and the Generator reads.

    config.json         {"format_version": 1, "pvae": {...}, "ropar": {...}, "text_encoder": ..., "fps": 20,
                         "train": {...}, "sampling": {"cfg": ..., "steps": ...}}
    pvae.safetensors    P-VAE weights
    ropar.safetensors   RoPAR weights (absent in a P-VAE-only directory)
    stats.safetensors   feature normalisation mean/std (263,)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ropar_core import checkpoint
from ropar_core.errors import ModelError
from ropar_core.pvae import PVAE, PVAEConfig
from ropar_core.ropar import RoPAR, RoPARConfig


def _config_of(cls, config: dict, key: str, model_dir: Path):
    if not isinstance(config.get(key), dict):
        raise ModelError(f"{model_dir}/config.json has no {key!r} section")
    try:
        return cls.from_dict(config[key])
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{model_dir}/config.json: bad {key!r} section: {exc}") from None


def load_pvae(model_dir: str | os.PathLike, device: str | torch.device = "cpu"
              ) -> tuple[PVAE, np.ndarray, np.ndarray]:
    """-> (pvae in eval mode with its stats set, mean (263,), std (263,))."""
    model_dir = Path(model_dir)
    config = checkpoint.load_config(model_dir)
    with checkpoint.skip_init():  # every weight comes from the file
        pvae = PVAE(_config_of(PVAEConfig, config, "pvae", model_dir))
    checkpoint.load_module_weights(pvae, model_dir / "pvae.safetensors", assign=True)
    mean, std = checkpoint.load_stats(model_dir)
    pvae.set_stats(mean, std)
    return pvae.to(device).eval(), mean, std


def load_models(model_dir: str | os.PathLike, device: str | torch.device = "cpu"
                ) -> tuple[PVAE, RoPAR, dict, np.ndarray, np.ndarray]:
    """-> (pvae, ropar, config dict, mean, std); both networks in eval mode on `device`."""
    model_dir = Path(model_dir)
    config = checkpoint.load_config(model_dir)
    pvae, mean, std = load_pvae(model_dir, device)
    rcfg = _config_of(RoPARConfig, config, "ropar", model_dir)
    if rcfg.latent_dim != pvae.cfg.latent_dim or rcfg.num_parts != pvae.cfg.num_parts:
        raise ModelError(f"{model_dir}: RoPAR expects {rcfg.num_parts} x {rcfg.latent_dim} latents but the "
                         f"P-VAE makes {pvae.cfg.num_parts} x {pvae.cfg.latent_dim}")
    with checkpoint.skip_init():
        ropar = RoPAR(rcfg)
    checkpoint.load_module_weights(ropar, model_dir / "ropar.safetensors", assign=True)
    return pvae, ropar.to(device).eval(), config, mean, std


def save_model_dir(out_dir: str | os.PathLike, pvae: PVAE, mean, std, ropar: RoPAR | None = None,
                   text_encoder: str | None = None, train: dict | None = None, sampling: dict | None = None
                   ) -> Path:
    """Write a model directory; config.json goes last so a directory with one is complete."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.save_weights(out_dir / "pvae.safetensors", pvae.state_dict())
    if ropar is not None:
        checkpoint.save_weights(out_dir / "ropar.safetensors", ropar.state_dict())
    checkpoint.save_stats(out_dir, mean, std)
    config: dict = {"pvae": pvae.cfg.to_dict(), "fps": 20, "train": train or {}}
    if ropar is not None:
        config["ropar"] = ropar.cfg.to_dict()
        config["text_encoder"] = text_encoder or "all-MiniLM-L6-v2"
        config["sampling"] = sampling or {}
    checkpoint.save_config(out_dir, config)
    return out_dir
