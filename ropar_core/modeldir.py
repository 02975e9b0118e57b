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
from ropar_core.request import CFG_RANGE, STEPS_RANGE, TEMP_RANGE
from ropar_core.ropar import RoPAR, RoPARConfig


def _config_of(cls, config: dict, key: str, model_dir: Path):
    if not isinstance(config.get(key), dict):
        raise ModelError(f"{model_dir}/config.json has no {key!r} section")
    try:
        return cls.from_dict(config[key])
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{model_dir}/config.json: bad {key!r} section: {exc}") from None


def _build(cls, cfg, model_dir: Path):
    """The network for a config that passed the type and range checks but may still not make one (e.g.
    width not divisible by heads): one ModelError, not torch's assertion."""
    try:
        with checkpoint.skip_init():  # every weight comes from the file
            return cls(cfg)
    except (AssertionError, ValueError, RuntimeError, TypeError) as exc:
        raise ModelError(f"{model_dir}/config.json describes no valid {cls.__name__}: "
                         f"{type(exc).__name__}: {str(exc)[:100]}") from None


def check_model_config(config: dict, model_dir: Path) -> None:
    """The parts of config.json outside the network sections: frame rate, text encoder, sampling."""
    where = f"{model_dir}/config.json"
    if config.get("fps", 20) != 20:
        raise ModelError(f"{where}: fps {config.get('fps')!r}; this ropar's models run at 20 fps")
    encoder = config.get("text_encoder")
    if encoder is not None and not isinstance(encoder, str):
        raise ModelError(f"{where}: 'text_encoder' must be a model name or path")
    sampling = config.get("sampling", {})
    if not isinstance(sampling, dict):
        raise ModelError(f"{where}: 'sampling' must be an object")
    bounds = (("cfg", float, *CFG_RANGE), ("steps", int, *STEPS_RANGE), ("ddim_steps", int, 1, 1000),
              ("temperature", float, *TEMP_RANGE))  # the ranges a request may ask for
    for key, kind, lo, hi in bounds:
        value = sampling.get(key)
        if value is None:
            continue
        good = isinstance(value, (int, float)) and not isinstance(value, bool) and lo <= value <= hi
        if not good or (kind is int and not float(value).is_integer()):
            raise ModelError(f"{where}: sampling {key!r} must be a {kind.__name__} in [{lo:g}, {hi:g}], "
                             f"got {str(value)[:30]}")


def load_pvae(model_dir: str | os.PathLike, device: str | torch.device = "cpu"
              ) -> tuple[PVAE, np.ndarray, np.ndarray]:
    """-> (pvae in eval mode with its stats set, mean (263,), std (263,))."""
    model_dir = Path(model_dir)
    config = checkpoint.load_config(model_dir)
    pvae = _build(PVAE, _config_of(PVAEConfig, config, "pvae", model_dir), model_dir)
    checkpoint.load_module_weights(pvae, model_dir / "pvae.safetensors", assign=True)
    mean, std = checkpoint.load_stats(model_dir)
    pvae.set_stats(mean, std)
    return pvae.to(device).eval(), mean, std


def load_models(model_dir: str | os.PathLike, device: str | torch.device = "cpu"
                ) -> tuple[PVAE, RoPAR, dict, np.ndarray, np.ndarray]:
    """-> (pvae, ropar, config dict, mean, std); both networks in eval mode on `device`."""
    model_dir = Path(model_dir)
    config = checkpoint.load_config(model_dir)
    check_model_config(config, model_dir)
    pvae, mean, std = load_pvae(model_dir, device)
    rcfg = _config_of(RoPARConfig, config, "ropar", model_dir)
    if rcfg.latent_dim != pvae.cfg.latent_dim or rcfg.num_parts != pvae.cfg.num_parts:
        raise ModelError(f"{model_dir}: RoPAR expects {rcfg.num_parts} x {rcfg.latent_dim} latents but the "
                         f"P-VAE makes {pvae.cfg.num_parts} x {pvae.cfg.latent_dim}")
    ropar = _build(RoPAR, rcfg, model_dir)
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
