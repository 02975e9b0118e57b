"""`ropar info [--model DIR]`: what a model directory holds (config, sizes, training notes, licence)
and which device generation would use. Reads config.json and the safetensors headers only, so it is
quick and works on a broken directory far enough to say what is wrong."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ropar_core import limits
from ropar_core.errors import ModelError

MODEL_CARDS = ("MODEL_CARD.md", "README.md", "model_card.md", "LICENSE", "LICENSE.txt")
NETWORKS = ("pvae", "ropar", "evaluator")
VOCABULARY = "vocabulary.json"  # [{action, source, clips, minutes, licence, example}], training.prepare_multi


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="show a model's configuration, size, licence and the device",
                       description="Describe a model directory and the device `ropar generate` would use.")
    p.add_argument("--model", metavar="DIR", default=None,
                   help="model directory, or a shipped model by name (a folder of assets/; default: default)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="device to report (default auto)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def parameter_count(path: Path) -> int:
    """Number of parameters in a safetensors file, from its header (no tensor is loaded)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            total = 0
            for key in f.keys():
                n = 1
                for d in f.get_slice(key).get_shape():
                    n *= d
                total += n
            return total
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"corrupt weights file {path}: {exc}") from None


def licence_note(model_dir: Path) -> str:
    """The sentence of the model card that states the licence (cards wrap sentences over lines)."""
    for name in MODEL_CARDS:
        card = model_dir / name
        if not card.is_file():
            continue
        text = card.read_text(encoding="utf-8", errors="replace")
        for paragraph in re.split(r"\n\s*\n", text):
            flat = " ".join(paragraph.replace("#", " ").split())
            for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z(])", flat):
                if "licen" in sentence.lower():
                    return f"{sentence.strip(' *-')} ({name})"
        return f"see {name}"
    return "no model card in the model directory"


def read_vocabulary(model_dir: Path) -> list[dict]:
    """What the model was trained on, per (source, action); [] when the directory has no table."""
    path = model_dir / VOCABULARY
    if not path.is_file():
        return []
    try:
        rows = limits.read_json_file(path, error=ModelError)  # bounded, and no RecursionError when nested
        keys = ("action", "source", "clips", "minutes")
        return [{k: r[k] for k in keys} | {"licence": r.get("licence", "")} for r in rows]
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelError(f"{path}: not a vocabulary table ({exc})") from None


def read_knowledge(model_dir: Path) -> dict | None:
    """The caption summary behind unfamiliar-prompt warnings (knowledge.py), from its header only."""
    from safetensors import SafetensorError, safe_open

    path = model_dir / "knowledge.safetensors"
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            captions = f.get_slice("action").get_shape()[0]
        return {"actions": json.loads(meta["labels"]), "captions": captions,
                "threshold": float(meta.get("threshold", "nan")),
                "unknown": len(json.loads(meta.get("unknown_texts", "[]"))),
                "top_k": int(meta.get("top_k", 1)), "calibration": json.loads(meta.get("calibration", "{}"))}
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise ModelError(f"corrupt {path}: {exc}") from None


def read_agreement(model_dir: Path) -> dict | None:
    """The text-motion agreement judge's calibration (agreement.py), from its header only."""
    from safetensors import SafetensorError, safe_open

    path = model_dir / "agreement.safetensors"
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
        return {"threshold": float(meta["threshold"]), "actions": len(json.loads(meta["labels"])),
                "calibration": json.loads(meta.get("calibration", "{}"))}
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise ModelError(f"corrupt {path}: {exc}") from None


def vocabulary_lines(rows: list[dict]) -> list[str]:
    """One line per action, merged over sources: 'kick   5 clips   0.3 min  (bandai1, deepmimic)'."""
    merged: dict[str, dict] = {}
    for r in rows:
        m = merged.setdefault(r["action"], {"clips": 0, "minutes": 0.0, "sources": []})
        m["clips"] += int(r["clips"])
        m["minutes"] += float(r["minutes"])
        m["sources"].append(r["source"])
    order = sorted(merged.items(), key=lambda kv: -kv[1]["minutes"])
    return [f"  {a:22s} {m['clips']:4d} clips {m['minutes']:6.1f} min  ({', '.join(m['sources'])})"
            for a, m in order]


def device_note(device: str) -> str:
    import torch

    from ropar_core.device import CPU_THREADS, resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    extra = "; CUDA not available" if not torch.cuda.is_available() else ""
    return f"cpu ({os.cpu_count()} cores, generation uses {CPU_THREADS} torch thread by default{extra})"


def describe(model_dir: Path, device: str) -> dict:
    from ropar_core import checkpoint

    config = checkpoint.load_config(model_dir)
    files = {}
    for net in NETWORKS:
        path = model_dir / f"{net}.safetensors"
        if path.is_file():
            size_mb = round(path.stat().st_size / 1e6, 2)
            files[net] = {"parameters": parameter_count(path), "megabytes": size_mb}
    for needed in ("pvae", "ropar"):
        if needed not in files:
            raise ModelError(f"{model_dir} has no {needed}.safetensors")
    ropar = config.get("ropar", {})
    window = ropar.get("max_time_tokens")
    return {
        "model_dir": str(model_dir.resolve()),
        "format_version": config.get("format_version"),
        "networks": files,
        "pvae": config.get("pvae", {}),
        "ropar": ropar,
        "window_seconds": None if window is None else window * 4 / 20,
        "text_encoder": config.get("text_encoder"),
        "sampling": config.get("sampling", {}),
        "train": config.get("train", {}),
        "licence": licence_note(model_dir),
        "device": device_note(device),
        "vocabulary": read_vocabulary(model_dir),
        "knowledge": read_knowledge(model_dir),
        "agreement": read_agreement(model_dir),
    }


def _short(d: dict, keys: tuple[str, ...]) -> str:
    return ", ".join(f"{k}={d[k]}" for k in keys if k in d)


def _scalar_keys(d: dict) -> tuple[str, ...]:
    """Short training notes: scalar entries, not the (long) command line."""
    return tuple(k for k, v in d.items() if not isinstance(v, (dict, list)) and k != "command")


def run(args) -> int:
    from ropar_core.generator import model_path

    model_dir = model_path(args.model)
    info = describe(model_dir, args.device)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    nets = ", ".join(f"{k} {v['parameters'] / 1e6:.2f} M parameters ({v['megabytes']} MB)"
                     for k, v in info["networks"].items())
    train = info["train"]
    lines = [
        f"model:         {info['model_dir']}",
        f"networks:      {nets}",
        f"P-VAE:         {_short(info['pvae'], ('latent_dim', 'width', 'depth', 'part_decomposition'))}",
        f"RoPAR:         {_short(info['ropar'], ('width', 'depth', 'heads', 'diffusion_head'))}",
        f"window:        {info['window_seconds']} s per window (longer motions are generated in windows)",
        f"text encoder:  {info['text_encoder']}",
        f"sampling:      {_short(info['sampling'], ('cfg', 'steps', 'temperature')) or 'defaults'}",
        f"training:      {_short(train, _scalar_keys(train))[:300] or '(no notes)'}",
        f"licence:       {info['licence']}",
        f"device:        {info['device']}",
    ]
    if info["vocabulary"]:
        rows = info["vocabulary"]
        sources = sorted({r["source"] for r in rows})
        lines.append(f"vocabulary:    {len({r['action'] for r in rows})} actions from {', '.join(sources)} "
                     f"({sum(r['clips'] for r in rows)} clips, {sum(r['minutes'] for r in rows):.0f} min):")
        lines += vocabulary_lines(rows)
    known = info["knowledge"]
    if known and not info["vocabulary"]:
        lines.append(f"knows:         {len(known['actions'])} actions: {', '.join(known['actions'])}")
    if known and known["unknown"]:
        cal = known["calibration"] if isinstance(known["calibration"], dict) else {}
        needed = {"known_warned", "unknown_warned", "known_prompts", "unknown_prompts"}
        rates = (f" (on held-out prompts: {cal['known_warned']:.1%} of {cal['known_prompts']} known actions "
                 f"in other words, {cal['unknown_warned']:.1%} of {cal['unknown_prompts']} unknown actions)"
                 if needed <= cal.keys() else "")
        catalogue = cal.get("catalogue") if isinstance(cal.get("catalogue"), dict) else {}
        source = (f" ({catalogue['actions']} of them captions of {catalogue['file']})"
                  if {"actions", "file"} <= catalogue.keys() else "")
        lines.append(f"familiarity:   a prompt is unfamiliar when its similarity to the {known['captions']} "
                     f"training captions (mean of an action's {known['top_k']} nearest) exceeds its "
                     f"similarity to {known['unknown']} unknown everyday actions{source} by less than "
                     f"{known['threshold']:+.3f}"
                     f"{rates}")
    elif known:
        lines.append(f"warnings:      prompts less similar than {known['threshold']:.2f} to all of "
                     f"{known['captions']} training captions get an 'unlike the training data' warning")
    judge = info["agreement"]
    if judge:
        from ropar_core.agreement import calibration_line

        lines.append(f"agreement:     how much better a motion matches one of {judge['actions']} known "
                     f"actions than its prompt ('looks more like'); {calibration_line(judge['calibration'])}")
    print("\n".join(lines))
    return 0
