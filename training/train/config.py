"""Training configuration: dataclasses with defaults, optional YAML overrides, then command-line flags.

A YAML file may hold two sections, both optional:

    train: {steps: 20000, batch_size: 64, lr: 2.0e-4}
    model: {width: 256, depth: 4}

Unknown keys are errors (a typo must not silently train the wrong thing).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ropar_core.errors import RoparError


@dataclass
class TrainConfig:
    steps: int = 20000
    batch_size: int = 64
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    warmup: int = 500  # linear warm-up steps
    lr_min_ratio: float = 0.1  # cosine decay to this share of lr at the last step
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    crop_frames: int = 64
    num_workers: int = 0
    log_every: int = 25
    eval_every: int = 1000
    ckpt_every: int = 250
    keep_checkpoints: int = 2
    device: str = "auto"
    threads: int = 0  # torch CPU threads (0: torch's default)
    stop_after: int = 0  # stop (checkpointed) at this step without finishing; continue with --resume

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


def pvae_train_defaults() -> TrainConfig:
    return TrainConfig(steps=20000, batch_size=64, lr=2e-4, crop_frames=64)


def ropar_train_defaults() -> TrainConfig:
    # whole clips up to 196 frames (49 tokens), like MARDM's crops
    return TrainConfig(steps=50000, batch_size=64, lr=2e-4, weight_decay=1e-5, crop_frames=196)


def apply_overrides(obj, overrides: dict, what: str):
    """dataclass + {field: value} -> a new dataclass; values are cast to the field's default's type."""
    fields = {f.name: f for f in dataclasses.fields(obj)}
    changes = {}
    for key, value in (overrides or {}).items():
        key = key.replace("-", "_")
        if key not in fields:
            raise RoparError(f"unknown {what} setting {key!r}; known: {', '.join(sorted(fields))}")
        current = getattr(obj, key)
        try:
            if isinstance(current, bool):
                if isinstance(value, str):
                    value = value.strip().lower() in ("1", "true", "yes", "on")
                value = bool(value)
            elif isinstance(current, tuple):
                value = tuple(type(current[0])(v) for v in value)
            elif current is not None:
                value = type(current)(value)
        except (TypeError, ValueError):
            kind = type(current).__name__
            raise RoparError(f"{what} setting {key!r}: cannot use {value!r} as {kind}") from None
        changes[key] = value
    return dataclasses.replace(obj, **changes)


def load_yaml(path: str | Path | None) -> dict:
    """-> {"train": {...}, "model": {...}} from a YAML file (empty sections when path is None)."""
    if path is None:
        return {"train": {}, "model": {}}
    import yaml

    path = Path(path)
    if not path.is_file():
        raise RoparError(f"config file {path} not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RoparError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or set(data) - {"train", "model"}:
        raise RoparError(f"{path}: expected top-level sections 'train' and/or 'model'")
    out = {"train": data.get("train") or {}, "model": data.get("model") or {}}
    for key, section in out.items():
        if not isinstance(section, dict):
            raise RoparError(f"{path}: section {key!r} must be a mapping")
    return out


def parse_sets(items: list[str] | None) -> dict:
    """['width=64', 'depth=2'] (from --set) -> {'width': '64', 'depth': '2'} (cast later)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise RoparError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out
