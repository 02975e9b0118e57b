"""Checking a generation request before any work: prompts, lengths, seeds and sampling settings, each
bad value a one-line RoparError. The limits live here and nowhere else."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ropar_core import skeleton as sk
from ropar_core.errors import RoparError

DEFAULT_SECONDS = 4.0
MIN_FRAMES = sk.TOKEN_FRAMES  # one latent token
MAX_SECONDS = 120.0  # two minutes: longer requests are almost certainly mistakes (and slow)
MAX_FRAMES = int(MAX_SECONDS * sk.FPS)
MAX_PROMPT_CHARS = 300
MAX_PROMPT_TOKENS = 77  # CLIP's context; the MiniLM encoder truncates at its own max_length anyway
CFG_RANGE = (0.0, 20.0)
STEPS_RANGE = (1, 100)
TEMP_RANGE = (0.0, 5.0)
MAX_SEED = 2**63 - 1
# Floor paths (path.py): points, coordinates and length a path may have, and the pace it may ask for
MAX_PATH_POINTS = 10_000
MAX_PATH_COORD = 10_000.0  # m from the origin
MIN_PATH_LENGTH = 0.1  # m: shorter is a point, not a path
MAX_PATH_LENGTH = 1000.0  # m: MAX_SECONDS at a sprint
MAX_PATH_SPEED = 10.0  # m/s over a whole clip: faster than any person runs


@dataclass(frozen=True)
class Request:
    """A validated generation request: one entry per prompt."""

    prompts: tuple[str, ...]
    frames: tuple[int, ...]
    seeds: tuple[int, ...]
    cfg: float
    steps: int
    temperature: float


def check_prompt(prompt, tokenizer=None, max_tokens: int = MAX_PROMPT_TOKENS) -> str:
    """A prompt -> its whitespace-normalised text; `tokenizer` (the text encoder's) counts its tokens."""
    if not isinstance(prompt, str):
        raise RoparError(f"a prompt must be a string, got {type(prompt).__name__}")
    try:  # a lone surrogate (an undecodable byte on the command line, "\\ud800" in JSON) is not text
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(prompt[exc.start])  # Python keeps an undecodable byte b as the surrogate U+DC00 + b
        what = (f"the byte 0x{code - 0xdc00:02x}" if 0xdc80 <= code <= 0xdcff
                else f"a lone surrogate U+{code:04X}")
        raise RoparError(f"the prompt is not valid UTF-8 text ({what} at character {exc.start}); "
                         "write it in UTF-8") from None
    text = " ".join(prompt.split())
    if not text:
        raise RoparError("empty prompt: describe the motion, e.g. \"a person walks forward\"")
    if len(text) > MAX_PROMPT_CHARS:
        raise RoparError(f"prompt too long ({len(text)} characters; at most {MAX_PROMPT_CHARS}): "
                         f"{text[:40]!r}...")
    if tokenizer is not None:
        n = len(tokenizer(text)["input_ids"])
        if n > max_tokens:
            raise RoparError(f"prompt too long ({n} tokens; at most {max_tokens}): {text[:40]!r}...")
    return text


def frames_for(frames=None, seconds=None, default_frames: int | None = None) -> int:
    """--frames / --seconds -> a frame count at 20 fps, validated."""
    if frames is not None and seconds is not None:
        raise RoparError("give seconds or frames, not both")
    if frames is None and seconds is None:
        return int(default_frames if default_frames is not None else round(DEFAULT_SECONDS * sk.FPS))
    if frames is not None:
        whole = isinstance(frames, (int, np.integer)) or (isinstance(frames, float) and frames.is_integer())
        if isinstance(frames, bool) or not whole:
            raise RoparError(f"frames must be a whole number, got {frames!r}")
        n = int(frames)
    else:
        s = float(seconds)
        if not math.isfinite(s) or s <= 0:
            raise RoparError(f"seconds must be positive, got {seconds!r}")
        n = int(round(s * sk.FPS))
    if n < MIN_FRAMES:
        raise RoparError(f"the motion must be at least {MIN_FRAMES} frames ({MIN_FRAMES / sk.FPS:g} s) "
                         f"long, got {n} frames")
    if n > MAX_FRAMES:
        shown = f"{n} frames ({n / sk.FPS:g} s)" if n < 10**9 else "that many frames"
        raise RoparError(f"{shown} is too long; at most {MAX_SECONDS:g} s ({MAX_FRAMES} frames)")
    return n


def check_sampling(cfg, steps, temperature, default_cfg: float, default_steps: int,
                   default_temperature: float = 1.0) -> tuple[float, int, float]:
    """Guidance scale, unmasking steps and temperature (None: the model's defaults) -> validated values."""
    cfg = default_cfg if cfg is None else cfg
    steps = default_steps if steps is None else steps
    temperature = default_temperature if temperature is None else temperature
    for name, value, (lo, hi) in (("cfg", cfg, CFG_RANGE), ("temperature", temperature, TEMP_RANGE)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise RoparError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    lo, hi = STEPS_RANGE
    if isinstance(steps, bool) or not isinstance(steps, (int, float)) or not float(steps).is_integer() \
            or not lo <= steps <= hi:
        raise RoparError(f"steps must be a whole number in [{lo}, {hi}], got {steps!r}")
    return float(cfg), int(steps), float(temperature)


def check_seeds(seed, n: int) -> list[int]:
    """One seed (prompt i gets seed + i) or one per prompt -> n validated seeds."""
    if isinstance(seed, (list, tuple)):
        seeds = per_prompt(seed, n, "seed")
    else:
        whole = isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)
        seeds = [seed + i if whole else seed for i in range(n)]
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= s <= MAX_SEED:
            raise RoparError(f"seed must be a whole number in [0, 2^63), got {s!r}")
    return [int(s) for s in seeds]


def per_prompt(value, n: int, what: str) -> list:
    """One value for every prompt, or a list of exactly one per prompt."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise RoparError(f"{len(value)} {what} values for {n} prompts")
        return list(value)
    return [value] * n


def check_path_pace(length: float, frames: int) -> None:
    """A path of `length` metres covered in `frames` frames must be a pace a person can keep."""
    speed = length / max(frames / sk.FPS, 1e-9)
    if speed > MAX_PATH_SPEED:
        raise RoparError(f"a {length:.1f} m path in {frames / sk.FPS:g} s is {speed:.1f} m/s; at most "
                         f"{MAX_PATH_SPEED:g} m/s: give more seconds (or none: the prompt's own pace)")
