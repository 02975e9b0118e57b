"""Model directories: safetensors weights + config.json (+ normalisation stats), written atomically,
loaded without unpickling anything.

Layout of a model directory (DESIGN §5):
    config.json          {"format_version": 1, "pvae": {...}, "ropar": {...}, "text_encoder": ..., ...}
    <name>.safetensors   one file per network (pvae, ropar, evaluator, ...)
    stats.safetensors    normalisation: "mean" and "std" (263,)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ropar_core.atomic import atomic_path, write_text
from ropar_core.errors import ModelError
from ropar_core.limits import read_json_file

FORMAT_VERSION = 1


def save_weights(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], metadata=None) -> None:
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"missing weights file {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"corrupt weights file {path}: {exc}") from None


def save_config(model_dir: str | os.PathLike, config: dict) -> None:
    config = {"format_version": FORMAT_VERSION, **config}
    write_text(Path(model_dir) / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")


def load_config(model_dir: str | os.PathLike) -> dict:
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(f"model directory {model_dir} does not exist")
    path = model_dir / "config.json"
    if not path.is_file():
        raise ModelError(f"{model_dir} is not a model directory (no config.json)")
    config = read_json_file(path, f"corrupt {path}", error=ModelError)
    if not isinstance(config, dict):
        raise ModelError(f"corrupt {path}: a JSON object is expected, got {type(config).__name__}")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(
            f"{path} has format_version {version!r}; this ropar reads version {FORMAT_VERSION}"
        )
    return config


# Bounds of config values: a hand-edited or corrupt config.json must not build a network of gigabytes
# (or crash one) before the weights file is even opened. Ints default to 1..4096, floats to +-1e4.
INT_RANGES = {"diffusion_steps": (1, 100_000), "max_frames": (1, 100_000), "ff_dim": (1, 16_384),
              "text_hidden": (1, 16_384)}
FLOAT_RANGES = {"mlp_ratio": (0.25, 16.0), "dropout": (0.0, 0.99), "cond_drop": (0.0, 1.0)}


def _check_field(name: str, value, default, what: str, error: type[Exception]):
    kind = type(default)
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise error(f"{what} config: {name!r} must be a {kind.__name__}, got {json.dumps(value)[:30]}")
    if kind in (int, float):
        lo, hi = (INT_RANGES.get(name, (1, 4096)) if kind is int else FLOAT_RANGES.get(name, (-1e4, 1e4)))
        if not (math.isfinite(value) and lo <= value <= hi):
            raise error(f"{what} config: {name!r} must be in [{lo:g}, {hi:g}], got {value!r}")
    return value


def config_from_dict(cls, data: dict, what: str, error: type[Exception] = ModelError):
    """Build the config dataclass `cls` from a config.json section, naming unknown keys and checking each
    value's type (that of the field's default) and range (INT_RANGES / FLOAT_RANGES)."""
    if not isinstance(data, dict):
        raise error(f"{what} config must be a JSON object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise error(f"{what} config has unknown keys: {', '.join(unknown)[:200]}")
    checked = {k: _check_field(k, v, fields[k].default, what, error) for k, v in data.items()}
    return cls(**checked)


def save_stats(model_dir: str | os.PathLike, mean: np.ndarray, std: np.ndarray) -> None:
    save_weights(
        Path(model_dir) / "stats.safetensors",
        {
            "mean": torch.as_tensor(np.asarray(mean, np.float32)),
            "std": torch.as_tensor(np.asarray(std, np.float32)),
        },
    )


def load_stats(model_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    stats = load_weights(Path(model_dir) / "stats.safetensors")
    if "mean" not in stats or "std" not in stats:
        raise ModelError(f"{model_dir}/stats.safetensors lacks 'mean'/'std'")
    mean, std = stats["mean"].numpy(), stats["std"].numpy()
    finite = np.isfinite(mean).all() and np.isfinite(std).all()
    if mean.shape != (263,) or std.shape != (263,) or not finite:
        raise ModelError(f"{model_dir}/stats.safetensors: mean/std must be finite (263,) vectors")
    if not (std > 1e-6).all() or np.abs(mean).max() > 1e4:  # x / std and x * std would blow up
        raise ModelError(f"{model_dir}/stats.safetensors: std must be positive and mean sane "
                         f"(min std {std.min():g}, largest |mean| {np.abs(mean).max():g})")
    return mean, std


_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "xavier_uniform_",
                   "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_")


@contextlib.contextmanager
def skip_init():
    """Modules built inside skip torch.nn.init's random initialisation: for networks whose every weight
    is loaded right after (load_module_weights is strict), drawing them first only costs start-up.
    Not for use while another thread builds modules it means to train."""
    saved = {name: getattr(torch.nn.init, name) for name in _INIT_FUNCTIONS}
    for name in _INIT_FUNCTIONS:
        setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(torch.nn.init, name, function)


def load_module_weights(module: torch.nn.Module, path: str | os.PathLike, assign: bool = False) -> None:
    """Load weights into `module`, turning shape/key mismatches into one clear ModelError.
    assign: the module adopts the file's (CPU) tensors instead of copying them into its own; for a
    module built on the CPU under skip_init, whose own tensors were never written."""
    state = load_weights(path)
    try:
        module.load_state_dict(state, strict=True, assign=assign)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise ModelError(f"{path} does not match the model's config: {detail}") from None
