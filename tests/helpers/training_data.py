"""A tiny synthetic noisy cache for the trainer tests, and the flags that keep their runs tiny."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.data.cache import CacheWriter
from training.data.importers import Clip

TINY = ["--preset", "tiny", "--batch-size", "4", "--log-every", "1", "--threads", "1", "--device", "cpu"]
CAPTIONS = ["a person walks forward", "someone waves the left hand", "a man runs",
            "a person raises both arms"]
SOURCES = ("studio", "web")  # two data sources, alternating (per-source training options)


def _features(T, rng):
    t = np.arange(T)[:, None] / 20.0
    freq = rng.uniform(0.3, 2.0, 263)
    phase = rng.uniform(0, 6.28, 263)
    x = 0.1 * np.sin(t * freq * 6.28 + phase) + rng.normal(0, 0.01, (T, 263))
    x[:, 3] += 0.9  # root height
    return x.astype(np.float32)


def write_training_cache(out: Path) -> Path:
    """16 noisy clips (random part dropouts), 12 train / 2 val / 2 test, of two sources."""
    rng = np.random.default_rng(0)
    with CacheWriter(out, name="synthetic", noisy=True) as w:
        for i in range(16):
            T = int(rng.integers(40, 90))
            clean = _features(T, rng)
            mask = np.ones((T, 5), dtype=bool)
            part = int(rng.integers(5))
            a = int(rng.integers(0, T // 2))
            mask[a:a + T // 3, part] = False
            noisy = clean.copy()
            noisy[~mask[:, 1], 10:20] += 0.5
            split = "train" if i < 12 else ("val" if i < 14 else "test")
            clip = Clip(id=f"c{i}", features=noisy, texts=[CAPTIONS[i % 4], CAPTIONS[(i + 1) % 4]],
                        frame_mask=mask, meta={"split": split}, source=SOURCES[i % 2])
            w.add(clip, clean_features=clean)
    return out
