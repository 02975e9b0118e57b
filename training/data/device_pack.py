"""A clean cache packed small enough to travel to a device machine, and unpacked (rebuilt) there.

    python -m training.data.device_pack pack --cache data/cache/clean --out device-data/bandai2.npz
    python -m training.data.device_pack unpack --pack device-data/bandai2.npz --out DIR/clean [--workers 16]
    python -m training.data.device_pack text --caches data/cache/clean --out device-data/text-embeddings

Why: a device machine receives only the repository (at most 64 MiB; the datasets beside it do not
travel), and the Bandai archive alone is 71 MB. The pack keeps per frame the root position (float32) and
the other 21 joints relative to the root (float16, sub-millimetre in the body's range) plus every
clip's record (id, captions, split, labels); about 25 MB for Bandai dataset-2. Unpacking recomputes the
263 features from the joints with the HumanML3D formulas (joints_to_features, the last frame
extrapolated), i.e. it rebuilds the clean cache; the result matches the source to ~1e-4 on average.
No pickle: one .npz with numeric arrays and the records as UTF-8 JSON bytes.

`text`: the text encoder's weights (about 90 MB) do not travel either. Every caption of the caches is
encoded once here into a caption cache (ropar_core.text_cache, one shard, ~1.5 KB per caption); with
ROPAR_TEXT_CACHE pointing at it, TextEncoder answers those captions on a machine without the weights.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np

from ropar_core.atomic import atomic_path
from ropar_core.errors import RoparError, cli_error
from ropar_core.features import features_to_joints
from training.data.cache import Cache, CacheWriter
from training.data.importers import Clip

FORMAT = "ropar-device-pack-1"


def pack(cache_dir: str | Path, out: str | Path) -> dict:
    cache = Cache(cache_dir)
    if cache.noisy:
        raise RoparError(f"{cache_dir} is a noisy cache; pack the clean one "
                         "(noise is simulated on the device)")
    roots, local = [], []
    for i in range(len(cache)):
        joints = features_to_joints(cache.clip_features(i)).astype(np.float64)  # (T, 22, 3)
        roots.append(joints[:, 0].astype(np.float32))
        local.append((joints[:, 1:] - joints[:, :1]).astype(np.float16))
    records = [{k: v for k, v in c.items() if k != "start"} for c in cache.clips]
    header = {"format": FORMAT, "name": cache.meta.get("name"), "source": str(Path(cache_dir).resolve()),
              "meta": {k: v for k, v in cache.meta.items() if k not in ("clips", "num_frames")}}
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, root=np.concatenate(roots), local=np.concatenate(local),
                                records=np.frombuffer(json.dumps(records).encode(), np.uint8),
                                header=np.frombuffer(json.dumps(header).encode(), np.uint8))
    return {"clips": len(records), "frames": int(sum(len(r) for r in roots)),
            "bytes": Path(out).stat().st_size}


def _load(pack_file: str | Path) -> tuple[dict, list[dict], np.ndarray, np.ndarray]:
    try:
        with np.load(pack_file, allow_pickle=False) as z:
            header = json.loads(bytes(z["header"]).decode())
            records = json.loads(bytes(z["records"]).decode())
            root, local = z["root"].astype(np.float64), z["local"].astype(np.float64)
    except (OSError, KeyError, ValueError) as exc:
        raise RoparError(f"{pack_file}: not a device pack ({exc})") from None
    if header.get("format") != FORMAT:
        raise RoparError(f"{pack_file}: format {header.get('format')!r}, this code reads {FORMAT}")
    return header, records, root, local


def _features(joints: np.ndarray) -> np.ndarray:
    from training.data.video_noise import to_features

    return to_features(joints)


def unpack(pack_file: str | Path, out: str | Path, workers: int = 1) -> dict:
    """Rebuild the clean cache in `out` (kept when it already holds this pack's cache)."""
    header, records, root, local = _load(pack_file)
    if (Path(out) / "meta.json").is_file() and Cache(out).meta.get("device_pack") == header["source"]:
        return Cache(out).meta
    starts = np.cumsum([0] + [r["length"] for r in records])
    clips = [np.concatenate([root[a:b, None], root[a:b, None] + local[a:b]], axis=1)
             for a, b in zip(starts[:-1], starts[1:])]
    if workers > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            feats = pool.map(_features, clips, chunksize=16)
    else:
        feats = [_features(j) for j in clips]
    extra = {k: v for k, v in header["meta"].items() if k not in ("name", "version", "parts", "noisy", "fps",
                                                                   "target_credible_ratio", "stats_split")}
    extra["device_pack"] = header["source"]
    with CacheWriter(out, header["name"] or "clean", extra_meta=extra) as w:
        for rec, f in zip(records, feats):
            rest = {k: v for k, v in rec.items() if k not in ("length", "texts", "split", "id", "source",
                                                               "subject", "content", "style")}
            w.add(Clip(id=rec["id"], features=f, texts=rec["texts"], frame_mask=np.ones((len(f), 5), bool),
                       source=rec.get("source", ""), subject=rec.get("subject", ""),
                       meta={"content": rec.get("content", ""), "style": rec.get("style", "")}),
                  split=rec["split"], extra=rest)
    return w.meta


def text_store(caches: list[str | Path], out: str | Path, encoder: str | None = None) -> dict:
    """Every caption of the caches' clips -> one-shard caption cache under `out` for `encoder`."""
    from ropar_core.text import TextEncoder

    texts = sorted({t for c in caches for clip in Cache(c).meta["clips"] for t in clip["texts"]})
    if not texts:
        raise RoparError("no captions in " + ", ".join(map(str, caches)))
    enc = TextEncoder(encoder, disk_cache=Path(out))
    enc.encode(texts)
    enc.store.compact()
    size = sum(f.stat().st_size for f in enc.store.dir.glob("*.safetensors"))
    return {"captions": len(texts), "dir": str(enc.store.dir), "bytes": size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.data.device_pack",
                                 description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--cache", required=True)
    p.add_argument("--out", required=True)
    u = sub.add_parser("unpack")
    u.add_argument("--pack", required=True)
    u.add_argument("--out", required=True)
    u.add_argument("--workers", type=int, default=1)
    t = sub.add_parser("text", help="caption cache of every caption in the caches (for a machine without "
                                    "the text encoder's weights)")
    t.add_argument("--caches", nargs="+", required=True)
    t.add_argument("--out", required=True, help="caption-cache root (ROPAR_TEXT_CACHE on the device)")
    t.add_argument("--text-encoder", default=None)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "pack":
            info = pack(args.cache, args.out)
            print(f"{args.out}: {info['clips']} clips, {info['frames']} frames, {info['bytes'] / 1e6:.1f} MB")
        elif args.cmd == "text":
            info = text_store(args.caches, args.out, args.text_encoder)
            print(f"{info['dir']}: {info['captions']} captions, {info['bytes'] / 1e6:.1f} MB")
        else:
            meta = unpack(args.pack, args.out, args.workers)
            print(f"{args.out}: {len(meta['clips'])} clips")
    except RoparError as exc:
        return cli_error("device_pack", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
