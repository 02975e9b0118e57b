"""`ropar generate`: text -> motion files (+ optional previews), one prompt or a file of thousands.

    ropar generate "a person waves" --seconds 4 --out wave.bvh --preview wave.gif
    ropar generate --prompts prompts.txt --out out/ --preview previews/
    ropar generate --prompts prompts.jsonl --out "out/{index:03d}_{slug}.npz"
    ropar generate "a person waves with both hands" --edit walk.bvh --keep-parts legs --out edit.bvh

With several prompts --out (and --preview) is a directory, which gets 000.bvh, 001.bvh, ... (000.png,
... for previews), or a pattern with the fields {index}, {seed} and {slug} (the prompt, lower case,
underscores; e.g. out/{index:03d}_{slug}.bvh). A prompts file holds one prompt per line, or JSON lines
{"text": ..., "seconds"|"frames": ..., "seed": ...}; blank lines and lines starting with # are skipped.

Torch is imported only when the command runs (the parser is built for every `ropar` call).
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ropar_core.errors import RoparError

OUT_SUFFIXES = (".bvh", ".npz", ".npy", ".json")
PREVIEW_SUFFIXES = (".png", ".gif")
JSONL_KEYS = {"text", "prompt", "seconds", "frames", "seed"}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "generate", help="generate motions from text (or edit a motion)",
        description="Generate motions from text prompts. " + __doc__.split("\n\n")[2].replace("\n", " "))
    p.add_argument("prompt", nargs="?", help='the motion, e.g. "a person waves with the right hand"')
    p.add_argument("--prompts", metavar="FILE", help="prompts file (one per line, or JSON lines); - = stdin")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, help="length in seconds (default 4; the motion is 20 fps)")
    length.add_argument("--frames", type=int, help="length in frames at 20 fps")
    p.add_argument("--seed", type=int, default=0, help="seed of the first prompt; prompt i gets seed + i")
    p.add_argument("--cfg", type=float, default=None, help="guidance scale (default: the model's)")
    p.add_argument("--steps", type=int, default=None, help="unmasking steps (default: the model's)")
    p.add_argument("--temperature", type=float, default=None,
                   help="sampling noise scale (default: the model's, see `ropar info`)")
    p.add_argument("--model", metavar="DIR", default=None, help="model directory (default: the shipped one)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to run")
    p.add_argument("--batch-size", type=int, default=32, help="motions generated together (default 32)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1 on CPU: fastest)")
    p.add_argument("--compile", action="store_true", help="torch.compile the networks (CUDA, many prompts)")
    p.add_argument("--out", required=True, metavar="PATH",
                   help="output .bvh/.npz/.npy/.json; with several prompts a directory or a {index} pattern")
    p.add_argument("--preview", metavar="PATH", help="stick-figure preview .png (frame strip) or .gif")
    p.add_argument("--edit", metavar="MOTION", help="edit this motion file instead of generating anew")
    p.add_argument("--keep-parts", metavar="PARTS",
                   help="with --edit: parts kept exactly, e.g. torso,left_leg (or legs, arms, upper, lower)")
    p.add_argument("--keep-frames", metavar="A:B", help="with --edit: frames A..B-1 (20 fps) kept exactly")
    p.add_argument("--path", metavar="FILE", help='walk along a floor path: JSON {"points": [[x, z], ...]} '
                   "(metres, Y up); without --seconds at the prompt's own pace")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


# ---------------------------------------------------------------------------------------------
@dataclass
class Item:
    text: str
    seed: int
    frames: int | None = None
    seconds: float | None = None


def _jsonl_item(obj, where: str, seed: int) -> Item:
    if not isinstance(obj, dict):
        raise RoparError(f"{where}: a JSON line must be an object like {{\"text\": \"a person walks\"}}")
    unknown = sorted(set(obj) - JSONL_KEYS)
    if unknown:
        raise RoparError(f"{where}: unknown key(s) {', '.join(unknown)}; use text, seconds or frames, seed")
    text = obj.get("text", obj.get("prompt"))
    if not isinstance(text, str):
        raise RoparError(f"{where}: \"text\" (a string) is required")
    if "seconds" in obj and "frames" in obj:
        raise RoparError(f"{where}: give seconds or frames, not both")
    for key, kinds in (("seconds", (int, float)), ("frames", (int,)), ("seed", (int,))):
        value = obj.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
            raise RoparError(f"{where}: {key} must be a number, got {json.dumps(value)}")
    return Item(text, obj.get("seed", seed), obj.get("frames"), obj.get("seconds"))


def read_prompts(path: str, base_seed: int) -> list[Item]:
    """Plain lines or JSON lines -> items; prompt i gets base_seed + i unless its line says otherwise."""
    if path == "-":
        lines, name = sys.stdin.read().splitlines(), "<stdin>"
    else:
        p = Path(path)
        if not p.is_file():
            raise RoparError(f"no such prompts file: {path}")
        try:
            lines, name = p.read_text(encoding="utf-8").splitlines(), p.name
        except UnicodeDecodeError:
            raise RoparError(f"{path} is not a UTF-8 text file") from None
    items: list[Item] = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        seed = base_seed + len(items)
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RoparError(f"{name}:{number}: invalid JSON: {exc.msg}") from None
            items.append(_jsonl_item(obj, f"{name}:{number}", seed))
        else:
            items.append(Item(line, seed))
    if not items:
        raise RoparError(f"{name} holds no prompts")
    return items


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "motion"


class Namer:
    """Output paths for item i: a file (one prompt), a directory, or a {index}/{seed}/{slug} pattern."""

    def __init__(self, spec: str, count: int, suffixes: tuple[str, ...], default_suffix: str, flag: str):
        self.spec, self.count, self.flag = spec, count, flag
        self.is_pattern = "{" in spec
        self.is_dir = not self.is_pattern and (spec.endswith(("/", "\\")) or Path(spec).is_dir()
                                               or (count > 1 and not Path(spec).suffix))
        self.default_suffix = default_suffix
        if count > 1 and not (self.is_pattern or self.is_dir):
            raise RoparError(f"{flag} {spec}: with {count} prompts give a directory or a pattern such as "
                             f"out/{{index:03d}}{default_suffix}")
        for i in range(min(count, 2)):
            path = self.path(i, 0, "x")
            if path.suffix.lower() not in suffixes:
                raise RoparError(f"{flag} {path}: use one of {', '.join(suffixes)}")
        if self.is_pattern and count > 1 and self.path(0, 0, "x") == self.path(1, 0, "x"):
            raise RoparError(f"{flag} {spec}: the pattern needs {{index}} so that files do not collide")

    def path(self, index: int, seed: int, text: str) -> Path:
        if self.is_dir:
            return Path(self.spec) / f"{index:03d}{self.default_suffix}"
        if not self.is_pattern:
            return Path(self.spec)
        try:
            return Path(self.spec.format(index=index, seed=seed, slug=_slug(text)))
        except (KeyError, IndexError, ValueError) as exc:
            raise RoparError(f"{self.flag} {self.spec}: bad pattern ({exc}); fields: index, seed, slug"
                             ) from None


def parse_keep_frames(spec: str | None) -> tuple[int, int] | None:
    if spec is None:
        return None
    m = re.fullmatch(r"\s*(\d*)\s*:\s*(\d*)\s*", spec)
    if not m or not (m.group(1) or m.group(2)):
        raise RoparError(f"--keep-frames {spec!r}: use A:B (frames A to B-1 at 20 fps), A: or :B")
    start = int(m.group(1)) if m.group(1) else 0
    end = int(m.group(2)) if m.group(2) else 10**9
    return start, end


def save(motion, path: Path) -> None:
    """One GeneratedMotion -> .npy (the model's 263-d features, T rows) or io.save_motion's formats."""
    from ropar_core import io

    if path.suffix.lower() == ".npy":
        import numpy as np

        from ropar_core.atomic import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, motion.features.astype(np.float32))
    else:
        io.save_motion(path, motion.to_motion())


def write_outputs(motion, path: Path, preview_path: Path | None) -> None:
    """The motion file and its preview, both or neither: each is written under a temporary name, and the
    names are swapped in only once both exist (a failing preview leaves no motion file behind)."""
    import contextlib

    from ropar_core.atomic import atomic_path

    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(path))
        if preview_path is not None:
            from ropar_core.preview import save_preview  # only then: it imports Pillow

            tmp_preview = stack.enter_context(atomic_path(preview_path))
            save_preview(tmp_preview, motion.joints, fps=motion.fps, title=motion.prompt)
        save(motion, tmp)


# ---------------------------------------------------------------------------------------------
def _items(args) -> list[Item]:
    if (args.prompt is None) == (args.prompts is None):
        raise RoparError("give a PROMPT or --prompts FILE (exactly one)")
    if args.prompts is not None:
        return read_prompts(args.prompts, args.seed)
    return [Item(args.prompt, args.seed)]


def _check_edit_args(args, items: list[Item]) -> None:
    if args.edit is None:
        if args.keep_parts or args.keep_frames:
            raise RoparError("--keep-parts / --keep-frames only make sense with --edit MOTION")
        return
    if len(items) != 1:
        raise RoparError("--edit takes one prompt")
    if not (args.keep_parts or args.keep_frames):
        raise RoparError("--edit needs --keep-parts and/or --keep-frames (what to keep from the motion)")


def _length(item: Item, args) -> tuple[int | None, float | None]:
    """(frames, seconds) of one prompt: its own JSON line's length, else the command line's."""
    if item.frames is not None or item.seconds is not None:
        return item.frames, item.seconds
    return args.frames, args.seconds


def run(args) -> int:
    items = _items(args)
    _check_edit_args(args, items)
    keep_frames = parse_keep_frames(args.keep_frames)
    out = Namer(args.out, len(items), OUT_SUFFIXES, ".bvh", "--out")
    preview = Namer(args.preview, len(items), PREVIEW_SUFFIXES, ".png", "--preview") if args.preview else None
    source = None
    if args.edit is not None:
        from ropar_core.io import load_motion

        source = load_motion(args.edit, fps=None)

    if args.path is not None and source is not None:
        raise RoparError("--path works with generation, not with --edit")
    path = None
    if args.path is not None:
        from ropar_core.path import read_path

        path = read_path(args.path)
    from ropar_core.generator import Generator

    t0 = time.perf_counter()
    gen = Generator.from_pretrained(args.model, device=args.device, compile=args.compile,
                                    threads=args.threads)
    t1 = time.perf_counter()
    if source is not None:
        motions = [gen.edit(items[0].text, source, keep_parts=args.keep_parts, keep_frames=keep_frames,
                            frames=args.frames, seconds=args.seconds, seed=items[0].seed, cfg=args.cfg,
                            steps=args.steps, temperature=args.temperature)]
    else:
        lengths = [_length(it, args) for it in items]
        motions = gen.generate([it.text for it in items], frames=[f for f, _ in lengths],
                               seconds=[s for _, s in lengths],
                               seed=[it.seed for it in items], cfg=args.cfg, steps=args.steps,
                               temperature=args.temperature, batch_size=args.batch_size,
                               progress=len(items) > 1 and not args.quiet, path=path)
    t2 = time.perf_counter()
    _warn_unfamiliar(motions)
    for i, m in enumerate(motions):
        write_outputs(m, out.path(i, m.seed, m.prompt),
                      None if preview is None else preview.path(i, m.seed, m.prompt))
    t3 = time.perf_counter()
    _summary(motions, out, gen, load_s=t1 - t0, gen_s=t2 - t1, write_s=t3 - t2, edited=source is not None)
    return 0


def _warn_unfamiliar(motions) -> None:
    """One line on stderr when prompts are unlike the model's training data (knowledge.py)."""
    flagged = [m for m in motions if getattr(m, "warning", None)]
    if len(flagged) == 1:
        print(f"ropar generate: warning: {flagged[0].warning}", file=sys.stderr)
    elif flagged:
        print(f"ropar generate: warning: {len(flagged)} of {len(motions)} prompts are unlike anything the "
              f"model was trained on, e.g. {flagged[0].warning}", file=sys.stderr)


def _summary(motions, out: Namer, gen, load_s: float, gen_s: float, write_s: float, edited: bool) -> None:
    n = len(motions)
    frames = sorted({m.frames for m in motions})
    length = f"{frames[0]} frames ({frames[0] / 20:g} s)" if len(frames) == 1 else \
        f"{frames[0]}-{frames[-1]} frames"
    verb = "edited" if edited else "generated"
    where = str(out.path(0, motions[0].seed, motions[0].prompt)) if n == 1 else \
        (out.spec if out.is_pattern else f"{out.spec.rstrip('/')}/")
    print(f"ropar generate: {verb} {n} motion{'s' if n > 1 else ''} of {length} in {gen_s:.2f} s "
          f"({gen_s / n:.3f} s per motion) on {gen.device}; model {gen.name} loaded in {load_s:.2f} s, "
          f"files written in {write_s:.2f} s -> {where}")
