"""`ropar finetune CLIP.npz ... --out MODEL`: teach a model new clips (from `ropar video`) and their captions,
on a laptop CPU in minutes, with the same training engine as every other model.

    ropar finetune jacks.npz --out models/jacks --steps 300
    python -m training.finetune jacks.npz --out models/jacks        (the same, without the plugin)

The P-VAE stays frozen: it encodes each clip with its credibility mask (paper §2.3), so the tokens of
parts the video did not see are marked noisy; RoPAR starts from the base model's weights and trains with
the part-aware masking of Eq. 2, which never takes a loss on a noisy token (training/train/train_ropar.py).
So that the model keeps what it knew, every batch also draws from a replay set: motions the base model
generates for its own vocabulary (vocabulary.json: one example caption per action it was trained on),
i.e. generative replay, which needs none of the base model's training data on this machine.

MODEL is a complete model directory (config, weights, stats) with the base model's knowledge files
extended by the new captions (knowledge.safetensors, vocabulary.json, MODEL_CARD.md), so prompts like
the new captions draw no unfamiliar-prompt warning. ropar_core never imports this module: the `ropar`
command finds it through the "ropar.commands" entry point in pyproject.toml.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ropar_core import limits
from ropar_core import skeleton as sk
from ropar_core.atomic import write_text
from ropar_core.errors import MotionFileError, RoparError, cli_error

DEFAULT_STEPS = 300
REPLAY_SEEDS = 2  # replay motions per vocabulary action
REPLAY_SECONDS = 6.4
NEW_SHARE = 0.5  # share of training windows drawn from the new clips (the rest: replay)
MODEL_FILES = ("config.json", "pvae.safetensors", "ropar.safetensors", "stats.safetensors")
VOCABULARY, CARD = "vocabulary.json", "MODEL_CARD.md"


@dataclass
class FinetuneSpec:
    """What `ropar finetune` was asked for (the command line's flags, typed)."""

    clips: list[str]
    out: str
    model: str | None = None  # base model directory (None: the shipped model)
    caption: list[str] | None = None  # captions for clips without one: one for all, or one per clip
    steps: int = DEFAULT_STEPS
    replay_seeds: int = REPLAY_SEEDS
    batch_size: int = 16
    lr: float = 1e-4
    seed: int = 0
    threads: int = 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "finetune", help="teach a model new clips (from `ropar video`) and their captions",
        description="Fine-tune RoPAR on clips with per-part credibility (noisy parts never taught), with "
                    "generative replay of the base model's vocabulary; writes a complete model directory.")
    add_arguments(p)
    p.set_defaults(func=main)  # main takes the parsed flags from `ropar`, or argv from python -m


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("clips", nargs="+", metavar="CLIP.npz",
                   help="clips written by `ropar video` (with --caption)")
    p.add_argument("--out", required=True, metavar="MODEL", help="output model directory (must not exist)")
    p.add_argument("--model", default=None, help="base model directory (default: the shipped model)")
    p.add_argument("--caption", action="append", default=None,
                   help="caption for clips that have none (repeatable: one per clip, or one for all)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                   help=f"training steps (default {DEFAULT_STEPS})")
    p.add_argument("--replay-seeds", type=int, default=REPLAY_SEEDS,
                   help=f"replay motions per action the base model knows (default {REPLAY_SEEDS}; 0: none)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's choice)")


# ---------------------------------------------------------------------------------------------
# Inputs


def read_clip(path: str | Path) -> dict:
    """A `ropar video` clip -> {joints (T, 22, 3) at 20 fps, credible (T, 5), text}."""
    from ropar_core.credibility import resample_frame_mask
    from ropar_core.resample import resample

    path = Path(path)
    if path.suffix.lower() != ".npz" or not path.is_file():
        raise MotionFileError(f"{path}: not a .npz clip file")
    try:
        with np.load(path, allow_pickle=False) as data:
            joints = np.asarray(data["joints"], np.float64)
            credible = np.asarray(data["credible"], bool) if "credible" in data.files else None
            fps = float(data["fps"]) if "fps" in data.files else float(sk.FPS)
            text = str(data["text"]) if "text" in data.files else ""
    except (KeyError, ValueError, OSError) as exc:
        raise MotionFileError(f"{path.name}: not a readable clip ({type(exc).__name__}: {exc})") from None
    if joints.ndim != 3 or joints.shape[1:] != (sk.NUM_JOINTS, 3) or not np.isfinite(joints).all():
        raise MotionFileError(f"{path.name}: joints must be finite (frames, 22, 3), got {joints.shape}")
    if credible is None:
        credible = np.ones((len(joints), sk.NUM_PARTS), bool)
    if credible.shape != (len(joints), sk.NUM_PARTS):
        raise MotionFileError(f"{path.name}: credible must be ({len(joints)}, 5), got {credible.shape}")
    fps = limits.check_fps(fps, f"{path.name}: fps", error=MotionFileError)
    if abs(fps - sk.FPS) > 1e-6:
        credible = resample_frame_mask(credible, fps, sk.FPS)
        joints = resample(joints, fps, sk.FPS)[:len(credible)]
    if len(joints) < 2 * sk.TOKEN_FRAMES + 1:
        raise MotionFileError(f"{path.name}: {len(joints)} frames at 20 fps is too short to learn from")
    return {"joints": joints, "credible": credible, "text": text.strip(), "name": path.stem}


def captions_for(clips: list[dict], captions: list[str] | None) -> None:
    """Fill each clip's text from --caption (one for all, or one per clip) where it has none."""
    captions = [c.strip() for c in captions or []]
    if captions and len(captions) not in (1, len(clips)):
        raise RoparError(f"--caption given {len(captions)} times for {len(clips)} clips: give one, "
                         "or one per clip")
    for i, clip in enumerate(clips):
        if not clip["text"] and captions:
            clip["text"] = captions[0] if len(captions) == 1 else captions[i]
        if not clip["text"]:
            raise RoparError(f"{clip['name']}: the clip has no caption; give --caption or write it with "
                             "`ropar video --caption`")


def _check_spec(spec: FinetuneSpec) -> None:
    if Path(spec.out).exists():
        raise RoparError(f"--out {spec.out} already exists; choose a new directory")
    if not 1 <= spec.steps <= 100_000:
        raise RoparError(f"--steps must be in 1..100000, got {spec.steps}")
    if not 0 <= spec.replay_seeds <= 20:
        raise RoparError(f"--replay-seeds must be in 0..20, got {spec.replay_seeds}")
    if not 1 <= spec.batch_size <= 512:
        raise RoparError(f"--batch-size must be in 1..512, got {spec.batch_size}")
    if not 0 < spec.lr < 1:
        raise RoparError(f"--lr must be in (0, 1), got {spec.lr}")
    limits.check_threads(spec.threads or None)


# ---------------------------------------------------------------------------------------------
# The training set: new clips + generative replay


def replay_prompts(base: Path) -> list[tuple[str, str]]:
    """(action, example caption) for every row of the base model's vocabulary (none without one)."""
    path = base / VOCABULARY
    if not path.is_file():
        return []
    rows = limits.read_json_file(path, "vocabulary")
    return [(str(r["action"]), str(r["example"])) for r in rows if isinstance(r, dict) and r.get("example")]


def replay_clips(base: Path, seeds: int, seed: int, threads: int | None) -> list:
    """Motions the base model generates for its own vocabulary -> training Clips (every part credible)."""
    from ropar_core.generator import Generator
    from training.data.importers import Clip

    prompts = replay_prompts(base)
    if not prompts or seeds == 0:
        return []
    gen = Generator.from_pretrained(base, device="cpu", threads=threads)
    texts = [ex for _, ex in prompts for _ in range(seeds)]
    # cleaned (rigid bones, planted feet), like the mocap the base model learned from: with raw replay a
    # 300-step fine-tune's walks skated 0.30 (base 0.16), with cleaned replay 0.245 (bench_finetune.py)
    motions = gen.generate(texts, seconds=REPLAY_SECONDS, seed=seed, progress=True)
    clips = []
    for i, m in enumerate(motions):
        action = prompts[i // seeds][0]
        clips.append(Clip(f"replay-{i:04d}", m.features, [m.prompt], source="replay",
                          meta={"content": action}))
    return clips


def new_clips(clips: list[dict]) -> list:
    from ropar_core.credibility import features_frame_mask
    from ropar_core.features import joints_to_features
    from training.data.importers import Clip

    out = []
    for i, c in enumerate(clips):
        feats = joints_to_features(c["joints"].astype(np.float32))  # (T-1, 263)
        mask = features_frame_mask(c["credible"])  # (T-1, 5)
        if not mask.any():
            raise RoparError(f"{c['name']}: no body part is credible in any frame; nothing to learn")
        out.append(Clip(f"new-{i:03d}-{c['name']}", feats, [c["text"]], mask, source="video",
                        meta={"content": c["text"]}))
    return out


def write_cache(path: Path, new: list, replay: list) -> None:
    """New clips repeated so they make NEW_SHARE of an epoch's windows; a few replay clips held out as the
    validation split the trainer needs."""
    from training.data.cache import CacheWriter

    held = set(range(0, len(replay), 10)) if len(replay) >= 10 else set()
    repeat = max(1, round(NEW_SHARE / (1 - NEW_SHARE) * max(len(replay) - len(held), 1) / len(new)))
    with CacheWriter(path, name="finetune") as w:
        for clip in new:
            w.add(clip, split="train", extra={"repeat": repeat})
        for i, clip in enumerate(replay):
            w.add(clip, split="val" if i in held else "train")
        if not held:  # no replay: the new clips double as the (unused) validation split
            for clip in new:
                w.add(clip, split="val")


# ---------------------------------------------------------------------------------------------
# Training and the model's knowledge files


def train_config(spec: FinetuneSpec, base_config: dict):
    from training.train.config import TrainConfig

    max_tokens = int(base_config["ropar"].get("max_time_tokens", 32))
    return TrainConfig(steps=spec.steps, batch_size=spec.batch_size, lr=spec.lr, weight_decay=1e-5,
                       warmup=min(20, spec.steps // 5), ema_decay=0.98, seed=spec.seed,
                       crop_frames=min(128, max_tokens * sk.TOKEN_FRAMES),
                       log_every=max(1, spec.steps // 10),
                       eval_every=0, ckpt_every=spec.steps, keep_checkpoints=1, device="cpu",
                       threads=spec.threads)


def extend_knowledge(base: Path, out: Path, clips: list[dict], text) -> None:
    """Copy the base model's knowledge files into `out`, with the new captions added (text: the model's
    loaded TextEncoder)."""
    from ropar_core.knowledge import Knowledge, action_phrase

    captions = sorted({c["text"] for c in clips})
    know = Knowledge.load(base)
    if know is not None:
        emb = text.encode([action_phrase(t) for t in captions]).cpu().numpy()
        know.with_captions(emb, [action_phrase(t) for t in captions]).save(out)
    rows = limits.read_json_file(base / VOCABULARY, "vocabulary") if (base / VOCABULARY).is_file() else []
    for text in captions:
        mine = [c for c in clips if c["text"] == text]
        rows.append({"action": action_phrase(text), "source": "video", "clips": len(mine),
                     "minutes": round(sum(len(c["joints"]) for c in mine) / sk.FPS / 60, 2),
                     "licence": "your own footage", "example": text})
    write_text(out / VOCABULARY, json.dumps(rows, indent=1) + "\n")


def model_card(base: Path, clips: list[dict], spec: FinetuneSpec, seconds: float, replay: int) -> str:
    card = (base / CARD).read_text() if (base / CARD).is_file() else f"# Model fine-tuned from {base}\n"
    lines = ["", "## Fine-tuned on new clips", "",
             f"Base model: `{base}`. {spec.steps} RoPAR steps on this machine's CPU in "
             f"{seconds / 60:.1f} min "
             f"(P-VAE frozen; parts not credible in a clip were never taught), with {replay} replay motions "
             "generated by the base model for its own vocabulary.", "",
             "| clip | caption | frames | credible frames (torso, arms, legs) |", "|---|---|---|---|"]
    for c in clips:
        ratio = ", ".join(f"{100 * r:.0f} %" for r in c["credible"].mean(0))
        lines.append(f"| {c['name']} | {c['text']} | {len(c['joints'])} | {ratio} |")
    return card.rstrip() + "\n" + "\n".join(lines) + "\n"


def finetune(spec: FinetuneSpec) -> Path:
    """Fine-tune the base model on the spec's clips; -> the new model directory."""
    from ropar_core import checkpoint
    from ropar_core.generator import model_path
    from ropar_core.text import TextEncoder
    from training.train import train_ropar

    _check_spec(spec)
    base = model_path(spec.model)
    base_config = checkpoint.load_config(base)
    clips = [read_clip(p) for p in spec.clips]
    captions_for(clips, spec.caption)
    out = Path(spec.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".finetune-", dir=out.parent))
    start = time.monotonic()
    try:
        replay = replay_clips(base, spec.replay_seeds, spec.seed, spec.threads or None)
        write_cache(work / "cache", new_clips(clips), replay)
        text = TextEncoder(base_config.get("text_encoder") or None, device="cpu")
        train_info, sampling = base_config.get("train", {}), base_config.get("sampling", {})
        overrides = {k: v for k, v in base_config["ropar"].items()
                     if k not in ("latent_dim", "text_dim", "part_decomposition")}
        train_ropar.train(train_config(spec, base_config), work / "cache", base, work / "model",
                          preset=train_info.get("preset", "small"), overrides=overrides,
                          text_encoder=text, init=base,
                          cfg_scale=float(sampling.get("cfg", train_ropar.DEFAULT_CFG_SCALE)),
                          command="ropar finetune " + " ".join(map(str, spec.clips)))
        stage = work / "out"
        stage.mkdir()
        for name in MODEL_FILES:
            shutil.copy2(work / "model" / name, stage / name)
        extend_knowledge(base, stage, clips, text)
        write_text(stage / CARD, model_card(base, clips, spec, time.monotonic() - start, len(replay)))
        stage.rename(out)  # the directory appears complete or not at all
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main(argv: list[str] | argparse.Namespace | None = None) -> int:
    """`python -m training.finetune ...` (argv), or `ropar finetune ...` (the flags its parser read)."""
    if isinstance(argv, argparse.Namespace):
        ns = argv
    else:
        p = argparse.ArgumentParser(prog="python -m training.finetune", description=__doc__.split("\n\n")[0])
        add_arguments(p)
        ns = p.parse_args(argv)
    spec = FinetuneSpec(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(FinetuneSpec)})
    try:
        out = finetune(spec)
    except (RoparError, OSError, ValueError) as exc:
        return cli_error("ropar finetune", exc)
    print(f"model directory: {out} (use it with: ropar generate --model {out} ...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
