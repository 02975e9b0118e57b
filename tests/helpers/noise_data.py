"""Windows of four real Bandai clips (tests/data/bandai) for the noise simulator tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.data.cache import CacheWriter
from training.data.importers import Clip
from training.data.importers.bandai import load_folder

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "bandai"
NUM_CLIPS = 32


def fixture_sources() -> dict:
    """content -> Clip of the four real clips."""
    return {c.meta["content"]: c for c in load_folder(FIXTURES)}


def write_clean_windows(out: Path, sources: dict) -> Path:
    """A clean cache of 32 windows (30-120 frames) cut from the four real clips."""
    rng = np.random.default_rng(0)
    srcs = list(sources.values())
    with CacheWriter(out, "fixture-clean") as w:
        for i in range(NUM_CLIPS):
            src = srcs[i % len(srcs)]
            T = int(rng.integers(min(30, src.length), min(120, src.length) + 1))
            s = int(rng.integers(0, src.length - T + 1))
            clip = Clip(id=f"{src.id}-w{i}", features=src.features[s:s + T], texts=src.texts,
                        source="bandai2", meta={"content": src.meta["content"], "style": src.meta["style"]})
            w.add(clip, split="train" if i % 5 else "val")
    return out
