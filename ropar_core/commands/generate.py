"""`ropar generate`: text -> motion files (+ optional previews), one prompt or a file of thousands.

    ropar generate "a person waves" --seconds 4 --out wave.bvh --preview wave.gif
    ropar generate --prompts prompts.txt --out out/ --preview previews/
    ropar generate --prompts prompts.jsonl --out "out/{index:03d}_{slug}.npz"
    ropar generate "a person waves with both hands" --edit walk.bvh --keep-parts legs --out edit.bvh

With several prompts --out (and --preview) is a directory, which gets 000.bvh, 001.bvh, ... (000.png,
... for previews), or a pattern with the fields {index}, {seed} and {slug} (the prompt, lower case,
underscores; e.g. out/{index:03d}_{slug}.bvh; widths up to 64). A prompts file holds one prompt per
line, or JSON lines {"text": ..., "seconds"|"frames": ..., "seed": ...}; blank lines and lines starting
with # are skipped. Every prompt and the output folder are checked before the model loads; the files
of each batch (--batch-size) are written as soon as it is done, so a stopped run keeps finished work.

Torch is imported only when the command runs (the parser is built for every `ropar` call).
"""

from __future__ import annotations

import json
import os
import re
import string
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ropar_core import limits
from ropar_core.errors import RoparError
from ropar_core.request import check_prompt

OUT_SUFFIXES = (".bvh", ".npz", ".npy", ".json")
PREVIEW_SUFFIXES = (".png", ".gif")
JSONL_KEYS = {"text", "prompt", "seconds", "frames", "seed"}
PATTERN_FIELDS = ("index", "seed", "slug")
MAX_FIELD_WIDTH = 64  # {index:09d} is plenty; {index:999999999d} would build a gigabyte-long name
MAX_PATH_CHARS = 4096  # PATH_MAX on Linux


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
    p.add_argument("--model", metavar="DIR", default=None,
                   help="model directory, or a shipped model by name (a folder of assets/; default: default)")
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
    _check_text(text, where)
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
        lines, name = _read_stdin().splitlines(), "<stdin>"
    else:
        if not os.path.lexists(path):
            raise RoparError(f"no such prompts file: {path}")
        lines, name = limits.read_text_file(path, what="prompts file").splitlines(), Path(path).name
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
            items.append(Item(_check_text(line, f"{name}:{number}"), seed))
    if not items:
        raise RoparError(f"{name} holds no prompts")
    return items


def _read_stdin() -> str:
    data = sys.stdin.buffer.read(limits.MAX_TEXT_BYTES + 1)
    if len(data) > limits.MAX_TEXT_BYTES:
        raise RoparError(f"<stdin>: more than {limits.MAX_TEXT_BYTES // 2**20} MiB of prompts")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise RoparError(f"<stdin>:{line}: not UTF-8 text") from None


def _check_text(text: str, where: str) -> str:
    """A prompt checked before the model loads (valid UTF-8, not empty, not too long), named by place."""
    try:
        check_prompt(text)
    except RoparError as exc:
        raise RoparError(f"{where}: {exc}") from None
    return text


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
        if self.is_pattern:
            check_pattern(spec, flag)
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
            name = self.spec.format(index=index, seed=seed, slug=_slug(text))
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            raise RoparError(f"{self.flag} {self.spec}: bad pattern ({exc}); fields: index, seed, slug"
                             ) from None
        if len(name) > MAX_PATH_CHARS:
            raise RoparError(f"{self.flag} {self.spec}: the file name would be {len(name)} characters long")
        return Path(name)


def check_pattern(spec: str, flag: str) -> None:
    """An output pattern's fields, checked before any formatting: only {index}, {seed} and {slug}, no
    attribute or item access, no nested fields, and widths of at most MAX_FIELD_WIDTH."""
    try:
        parts = list(string.Formatter().parse(spec))
    except ValueError as exc:
        raise RoparError(f"{flag} {spec}: bad pattern ({exc}); fields: index, seed, slug") from None
    for _, field, fmt, _ in parts:
        if field is None:
            continue
        if field not in PATTERN_FIELDS:
            raise RoparError(f"{flag} {spec}: unknown field {{{field}}}; use {{index}}, {{seed}} or {{slug}}")
        if "{" in (fmt or "") or any(int(n) > MAX_FIELD_WIDTH for n in re.findall(r"\d+", fmt or "")):
            raise RoparError(f"{flag} {spec}: the format of {{{field}}} is too wide or nested; "
                             f"widths up to {MAX_FIELD_WIDTH}, e.g. {{index:05d}}")


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
    check_prompt(args.prompt)  # before the model loads
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
    if isinstance(args.batch_size, bool) or not 1 <= args.batch_size <= 4096:
        raise RoparError(f"--batch-size must be from 1 to 4096, got {args.batch_size}")
    out = Namer(args.out, len(items), OUT_SUFFIXES, ".bvh", "--out")
    preview = Namer(args.preview, len(items), PREVIEW_SUFFIXES, ".png", "--preview") if args.preview else None
    for namer in (out, preview):  # a folder we cannot write is found now, not after all the work
        if namer is not None:
            check_writable(namer.path(0, items[0].seed, items[0].text), namer.flag)
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
    tally = Tally(load_s=time.perf_counter() - t0, edited=source is not None)
    if source is not None:
        t1 = time.perf_counter()
        motion = gen.edit(items[0].text, source, keep_parts=args.keep_parts, keep_frames=keep_frames,
                          frames=args.frames, seconds=args.seconds, seed=items[0].seed, cfg=args.cfg,
                          steps=args.steps, temperature=args.temperature)
        tally.gen_s += time.perf_counter() - t1
        _write_batch([motion], 0, out, preview, tally)
    else:
        options = {"cfg": args.cfg, "steps": args.steps, "temperature": args.temperature, "path": path}
        try:
            generate_in_batches(gen, items, args, options, out, preview, tally)
        except (RoparError, OSError) as exc:
            if not tally.count:
                raise
            what = f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError) and exc.filename else exc
            raise RoparError(f"{what} (the first {tally.count} of {len(items)} motions were written)"
                             ) from None
    _warn(tally)
    _summary(tally, out, gen)
    return 0


@dataclass
class Tally:
    """What the summary line reports; motions themselves are not kept once written."""

    load_s: float = 0.0
    gen_s: float = 0.0
    write_s: float = 0.0
    edited: bool = False
    count: int = 0
    frames: tuple[int, int] | None = None  # shortest, longest
    first_path: Path | None = None
    warnings: int = 0
    first_warning: str | None = None

    def add(self, motion, path: Path) -> None:
        self.count += 1
        lo, hi = self.frames or (motion.frames, motion.frames)
        self.frames = (min(lo, motion.frames), max(hi, motion.frames))
        self.first_path = self.first_path or path
        if getattr(motion, "warning", None):
            self.warnings += 1
            self.first_warning = self.first_warning or motion.warning


def check_writable(path: Path, flag: str) -> None:
    """The output can be written: its folder (or the nearest existing folder above it, the rest being
    created with the first file) takes a new file. Nothing is left behind; stale temporary files that
    an earlier, killed run left in the folder are removed."""
    import tempfile

    from ropar_core.atomic import remove_stale_temps

    if path.is_dir():
        raise RoparError(f"{flag} {path} is a folder; name a file")
    folder = path.parent
    while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise RoparError(f"{flag} {path}: {folder} is not a folder (a file, or a broken or looping "
                         "symbolic link)")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise RoparError(f"{flag} {path}: cannot write in {folder}: {exc.strerror or exc}") from None
    if folder == path.parent:
        remove_stale_temps(folder)


def generate_in_batches(gen, items: list[Item], args, options: dict, out: Namer, preview: Namer | None,
                        tally: Tally) -> None:
    """Every prompt validated first (one bad line fails the run before any work), then generated
    --batch-size at a time, each batch's files written as soon as it is done: memory stays one batch,
    and a killed run keeps everything finished before it. `options`: the keyword arguments every
    Generator.check_request / generate call gets besides prompts, lengths and seeds (cfg, steps, ...)."""
    lengths = [_length(it, args) for it in items]
    gen.check_request([it.text for it in items], frames=[f for f, _ in lengths],
                      seconds=[s for _, s in lengths], seed=[it.seed for it in items], **options)
    bar = None
    if len(items) > 1 and not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(items), unit="motion", desc="generating", leave=False)
    try:
        for start in range(0, len(items), args.batch_size):
            chunk, span = items[start:start + args.batch_size], lengths[start:start + args.batch_size]
            t0 = time.perf_counter()
            motions = gen.generate([it.text for it in chunk], frames=[f for f, _ in span],
                                   seconds=[s for _, s in span], seed=[it.seed for it in chunk],
                                   batch_size=args.batch_size, **options)
            tally.gen_s += time.perf_counter() - t0
            _write_batch(motions, start, out, preview, tally)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()


def _write_batch(motions, start: int, out: Namer, preview: Namer | None, tally: Tally) -> None:
    t0 = time.perf_counter()
    for i, m in enumerate(motions, start):
        path = out.path(i, m.seed, m.prompt)
        write_outputs(m, path, None if preview is None else preview.path(i, m.seed, m.prompt))
        tally.add(m, path)
    tally.write_s += time.perf_counter() - t0


def _warn(tally: Tally) -> None:
    """One line on stderr when prompts are unlike the model's training data (knowledge.py) or motions do
    not show their prompts (agreement.py)."""
    if tally.warnings == 1:
        print(f"ropar generate: warning: {tally.first_warning}", file=sys.stderr)
    elif tally.warnings:
        print(f"ropar generate: warning: {tally.warnings} of {tally.count} motions may not show their "
              f"prompts (unfamiliar prompts or another action), e.g. {tally.first_warning}", file=sys.stderr)


def _summary(tally: Tally, out: Namer, gen) -> None:
    n, (lo, hi) = tally.count, tally.frames
    length = f"{lo} frames ({lo / 20:g} s)" if lo == hi else f"{lo}-{hi} frames"
    verb = "edited" if tally.edited else "generated"
    where = str(tally.first_path) if n == 1 else (out.spec if out.is_pattern else f"{out.spec.rstrip('/')}/")
    print(f"ropar generate: {verb} {n} motion{'s' if n > 1 else ''} of {length} in {tally.gen_s:.2f} s "
          f"({tally.gen_s / n:.3f} s per motion) on {gen.device}; model {gen.name} loaded in "
          f"{tally.load_s:.2f} s, files written in {tally.write_s:.2f} s -> {where}")
