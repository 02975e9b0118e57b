"""Training configuration: dataclasses with defaults, optional YAML overrides, then command-line flags.

The trainers' shared flags are derived here, once, from the `TrainConfig` fields (`add_train_flags`), and
read back by `train_config`; a new field is a new flag of every trainer.

A YAML file may hold two sections, both optional:

    train: {steps: 20000, batch_size: 64, lr: 2.0e-4}
    model: {width: 256, depth: 4}

Unknown keys are errors (a typo must not silently train the wrong thing).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ropar_core.errors import RoparError
from training.data.dataset import DEFAULT_BATCH_SIZE


@dataclass
class TrainConfig:
    steps: int = 20000
    batch_size: int = DEFAULT_BATCH_SIZE
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


FLAG_HELP = {
    "threads": "torch CPU threads (0: torch's default)",
    "device": "auto | cpu | cuda",
    "stop_after": "stop at this step (checkpointed) without finishing; go on later with --resume",
    "warmup": "linear warm-up steps",
    "lr_min_ratio": "cosine decay to this share of lr at the last step",
    "eval_every": "held-out evaluation every N steps (0: only at the end)",
    "ckpt_every": "checkpoint every N steps",
    "keep_checkpoints": "checkpoints kept on disk",
}


def add_train_flags(parser: argparse.ArgumentParser, presets) -> None:
    """The flags every trainer shares: data, output, model size, config file, resume, and one flag per
    scalar `TrainConfig` field (default None: the YAML's or the trainer's default applies)."""
    parser.add_argument("--data", required=True, help="dataset cache directory (training.prepare output)")
    parser.add_argument("--out", required=True, help="output directory (model + checkpoints + logs)")
    parser.add_argument("--preset", default="small", choices=sorted(presets), help="model size")
    parser.add_argument("--config", help="YAML file with 'train' and/or 'model' sections")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="model config override (repeatable)")
    for f in dataclasses.fields(TrainConfig):
        kind = type(f.default)
        if kind not in (int, float, str):
            continue  # betas: YAML only
        parser.add_argument("--" + f.name.replace("_", "-"), type=kind, default=None,
                            help=FLAG_HELP.get(f.name))
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")


def train_config(defaults: TrainConfig, yaml_train: dict, flags: dict) -> TrainConfig:
    """defaults <- the YAML's train section <- the flags that were given (None: not given)."""
    cfg = apply_overrides(defaults, yaml_train, "train")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return apply_overrides(cfg, {k: v for k, v in flags.items() if k in names and v is not None}, "train")


def model_overrides(config_file: dict, sets: list[str] | None, **switches) -> dict:
    """A model section of a YAML file, then --set KEY=VALUE items, then ablation switches (name=value,
    None: not given)."""
    return {**config_file, **parse_sets(sets), **{k: v for k, v in switches.items() if v is not None}}


def flags_for(cfg: TrainConfig, defaults: TrainConfig) -> list[str]:
    """The flags that turn `defaults` into `cfg` (for the record of how a model was trained)."""
    out = []
    for f in dataclasses.fields(TrainConfig):
        value = getattr(cfg, f.name)
        if value != getattr(defaults, f.name) and type(value) in (int, float, str):
            out += ["--" + f.name.replace("_", "-"), str(value)]
    return out
