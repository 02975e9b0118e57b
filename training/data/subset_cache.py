"""A seeded subset of a clean cache (per split), e.g. to validate a noise mode or run an experiment's
small preset on a CPU without touching the whole data set.

    python -m training.data.subset_cache --in data/cache/clean --out data/cache-sub/clean \\
        --train 400 --val 100 [--test N] [--seed 0]

A split left out keeps all its clips. Clips keep their ids, captions, labels and split, so a subset's
test split can be the whole test split of the source (what the key-claim experiment evaluates on).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ropar_core.errors import RoparError, cli_error
from training.data.cache import Cache, CacheWriter
from training.data.importers import Clip


def pick(cache: Cache, counts: dict[str, int | None], seed: int) -> list[int]:
    """Clip indices: per split a seeded random choice of counts[split] clips (None or missing: all), in
    the source's order."""
    chosen = []
    for split in ("train", "val", "test"):
        idx = cache.indices(split)
        n = counts.get(split)
        if n is not None and n < len(idx):
            rng = np.random.default_rng([seed, ("train", "val", "test").index(split)])
            idx = sorted(int(i) for i in rng.choice(idx, size=n, replace=False))
        chosen += idx
    return sorted(chosen)


def subset_cache(src: str | Path, dst: str | Path, counts: dict[str, int | None], seed: int = 0) -> dict:
    cache = Cache(src)
    if cache.noisy:
        raise RoparError(f"{src} is a noisy cache; subset the clean one and simulate noise on the subset")
    for split, n in counts.items():
        if n is not None and n < 1:
            raise RoparError(f"--{split} must be positive, got {n}")
    if (Path(dst) / "meta.json").is_file():
        meta = Cache(dst).meta
        if meta.get("subset_of") == str(Path(src).resolve()) and meta.get("subset_counts") == counts \
                and meta.get("subset_seed") == seed:
            return meta  # already there
    extra = {k: v for k, v in cache.meta.items() if k in ("source_dataset", "fingerprint", "seed")}
    extra.update(subset_of=str(Path(src).resolve()), subset_counts=counts, subset_seed=seed)
    with CacheWriter(dst, f"{cache.meta.get('name', 'cache')}-subset", extra_meta=extra) as w:
        for i in pick(cache, counts, seed):
            rec = cache.clips[i]
            rest = {k: v for k, v in rec.items() if k not in ("start", "length", "texts", "split", "id",
                                                               "source", "subject", "content", "style")}
            w.add(Clip(id=rec["id"], features=cache.clip_features(i), texts=rec["texts"],
                       frame_mask=cache.clip_credible(i), source=rec.get("source", ""),
                       subject=rec.get("subject", ""),
                       meta={"content": rec.get("content", ""), "style": rec.get("style", "")}),
                  split=rec["split"], extra=rest)
    return w.meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.data.subset_cache",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--in", dest="src", required=True)
    ap.add_argument("--out", required=True)
    for split in ("train", "val", "test"):
        ap.add_argument(f"--{split}", type=int, default=None, help=f"{split} clips to keep (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        meta = subset_cache(args.src, args.out, {"train": args.train, "val": args.val, "test": args.test},
                            args.seed)
    except RoparError as exc:
        return cli_error("subset_cache", exc)
    print(f"{args.out}: {len(meta['clips'])} clips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
