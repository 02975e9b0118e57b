"""One clean and one noisy training cache from every motion source, with per-source sampling weights.

    python -m training.prepare_multi --bandai2-cache data/cache --bandai1 DIR --cmu DIR --deepmimic DIR \\
        --out data/cache-multi [--noisy-ratio 0.5] [--weights bandai2=1,bandai1=4,cmu=8,deepmimic=16]
    python -m training.prepare_multi --cmu-asf-amc DIR --cmu DIR --cmu-dance DIR --deepmimic DIR \\
        --reactidle DIR --out data/cache-open      # no --bandai2-cache: commercial-use sources only

Dataset-2 comes from the caches `training.prepare` wrote (its clips, captions and splits unchanged, so its
test split stays the held-out set the shipped model is judged on); the other sources are imported here
(`training.importers.{bandai1,cmu_iclone,deepmimic}`). Every training clip also enters mirrored (left and
right swapped in the motion and in its captions; `training.mirror`). The new sources' clean clips pass
through the same video-noise simulator at the same credible ratio as dataset-2's (`simulate_noise`).

Weights: a train clip of source S is drawn `weight[S]` times per epoch (the cache records it per clip as
"repeat"; `MotionDataset` and RoPAR's latent dataset honour it), so twenty minutes of new actions are
not drowned by hours of walking. `--noise-draws K` films each new-source train clip K times (independent
simulator draws, ids `<id>~noiseK`) and spreads its repeats over them: one draw repeated 48 times
corrupted the same limb every time, and every kick in the data had its kicking leg marked not credible.
Stages are resumable: a finished stage's meta.json is its marker.
Writes OUT/vocabulary.json (action, clips, minutes, source, licence) for the model card and `ropar info`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ropar_core.atomic import write_text
from ropar_core.credibility import DEFAULT_TAU
from ropar_core.errors import RoparError, cli_error
from ropar_core.skeleton import FPS
from training.data import simulate_noise
from training.data.cache import Cache, CacheWriter, is_complete
from training.data.importers import Clip, bandai1, cmu_asf_amc, cmu_dance, cmu_iclone, deepmimic, reactidle
from training.data.mirror import mirror_features, mirror_mask, mirror_text

DEFAULT_WEIGHTS = {"bandai2": 1, "bandai1": 4, "cmu": 8, "deepmimic": 16, "cmu_dance": 2, "reactidle": 1}
LICENCES = {
    "bandai2": "Bandai-Namco-Research-Motiondataset-2 (CC BY-NC 4.0)",
    "bandai1": bandai1.LICENCE,
    "cmu": cmu_iclone.LICENCE,
    "deepmimic": deepmimic.LICENCE,
    "cmu_dance": cmu_dance.LICENCE,
    "reactidle": reactidle.LICENCE,
}
RARE_CLIPS = 4  # an action with this few original takes (all sources) is "rare" for --rare-boost
ENTRY_KEYS = ("id", "start", "length", "texts", "split", "source", "subject", "content", "style")


def parse_weights(text: str) -> dict[str, int]:
    out = dict(DEFAULT_WEIGHTS)
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, value = item.partition("=")
        if name not in DEFAULT_WEIGHTS or not value.strip().isdigit() or int(value) < 1:
            raise argparse.ArgumentTypeError(
                f"expected SOURCE=N (N >= 1, SOURCE in {', '.join(DEFAULT_WEIGHTS)}), got {item!r}"
            )
        out[name] = int(value)
    return out


def parse_action_weights(text: str) -> dict[str, int]:
    """'walk=3,kick=2' -> {'walk': 3, 'kick': 2} (actions as in vocabulary.json)."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, value = item.partition("=")
        if not name.strip() or not value.strip().isdigit() or int(value) < 1:
            raise argparse.ArgumentTypeError(f"expected ACTION=N (N >= 1), got {item!r}")
        out[name.strip()] = int(value)
    return out


def mirrored(clip: Clip, clean_features=None) -> tuple[Clip, object]:
    """The mirror twin of a clip (id + '_mirror'), and of its ground truth when given."""
    feats = mirror_features(clip.features)
    twin = Clip(
        id=f"{clip.id}_mirror",
        features=feats,
        texts=[mirror_text(t) for t in clip.texts],
        frame_mask=mirror_mask(clip.frame_mask, len(feats)),
        source=clip.source,
        subject=clip.subject,
        split_key=clip.split_key,
        meta={**clip.meta, "mirrored": True},
    )
    return twin, (None if clean_features is None else mirror_features(clean_features)[: len(feats)])


# ---------------------------------------------------------------------------------------------
# Stage 1: the new sources' clean clips (+ mirrors) and their noisy twin.


@dataclass
class MultiSpec:
    """What `python -m training.prepare_multi` builds (its flags)."""

    bandai2_cache: str | None  # None: the new sources alone (no non-commercial Bandai data)
    out: str
    bandai1: str | None = None
    cmu: str | None = None
    deepmimic: str | None = None
    cmu_asf_amc: str | None = None  # CMU's own ASF/AMC trials (source "cmu", like the iClone clips)
    cmu_dance: str | None = None
    reactidle: str | None = None
    noisy_ratio: float = 0.5
    weights: dict = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    rare_boost: int = 1  # extra repeats for train clips of actions with at most RARE_CLIPS takes
    # per-action repeats of train clips, e.g. {"walk": 3}: Bandai-2 holds 568 turning walks ("walks forward
    # and turns left") against 124 straight ones, and a plain walk came out curving
    action_weights: dict = field(default_factory=dict)
    noise_draws: int = 1  # independent video-noise draws of each new-source train clip
    workers: int = 1
    seed: int = 0
    tau: float = DEFAULT_TAU


def import_new(spec: MultiSpec) -> list[Clip]:
    clips: list[Clip] = []
    for name, module, root in (
        ("bandai1", bandai1, spec.bandai1),
        ("cmu", cmu_iclone, spec.cmu),
        ("deepmimic", deepmimic, spec.deepmimic),
        ("cmu-asf-amc", cmu_asf_amc, spec.cmu_asf_amc),
        ("cmu-dance", cmu_dance, spec.cmu_dance),
        ("reactidle", reactidle, spec.reactidle),
    ):
        if root:
            t = time.time()
            got = module.load_folder(root, seed=spec.seed)
            print(f"prepare_multi: {name}: {len(got)} clips in {time.time() - t:.0f} s", file=sys.stderr)
            clips += got
    if not clips:
        raise RoparError("no new source given (--bandai1, --cmu, --deepmimic, --cmu-asf-amc, --cmu-dance, "
                         "--reactidle)")
    if spec.cmu and spec.cmu_asf_amc:  # the takes both CMU sets hold, once (from CMU's own files)
        amc = {c.id.removeprefix(f"{cmu_asf_amc.ID_PREFIX}_") for c in clips if c.id.startswith("cmuamc_")}
        clips = [c for c in clips if not (c.id.startswith("cmu_") and c.id.removeprefix("cmu_") in amc)]
    return clips


def write_new_clean(spec: MultiSpec, out: Path) -> Cache:
    if is_complete(out):
        return Cache(out)
    clips = import_new(spec)
    with CacheWriter(out, "new-sources-clean", noisy=False, extra_meta={"seed": spec.seed}) as w:
        for clip in tqdm(clips, desc="new clips + mirrors", unit="clip", file=sys.stderr):
            w.add(clip, extra=_extra(clip))
            twin, _ = mirrored(clip)
            w.add(twin, extra=_extra(twin))
    return Cache(out)


def _extra(clip: Clip) -> dict:
    keep = ("take", "file", "description", "mirrored", "tpose_dropped")
    return {k: clip.meta[k] for k in keep if k in clip.meta}


# ---------------------------------------------------------------------------------------------
# Stage 2: merging.


def clip_of(cache: Cache, i: int) -> tuple[Clip, dict, object]:
    """Clip i of a cache as a Clip (its meta entry's extra fields kept) and its ground truth."""
    e = cache.clips[i]
    clip = Clip(
        id=e["id"],
        features=cache.clip_features(i),
        texts=e["texts"],
        frame_mask=cache.clip_credible(i),
        source=e.get("source", ""),
        subject=e.get("subject", ""),
        meta={"split": e["split"], "content": e.get("content", ""), "style": e.get("style", "")},
    )
    extra = {k: v for k, v in e.items() if k not in ENTRY_KEYS}
    return clip, extra, (cache.clip_clean_features(i) if cache.noisy else None)


def merged_clips(bandai2: Cache | None, new: Cache) -> Iterator[tuple[Clip, dict, object, int | None]]:
    """Dataset-2 as it is, its train clips mirrored, then the new sources (already mirrored); the last
    field is the clip's index in `new` (None for dataset-2). No dataset-2 (None): the new sources alone."""
    if bandai2 is not None:
        for i in tqdm(range(len(bandai2)), desc=f"merge {bandai2.path.name}", unit="clip", file=sys.stderr):
            clip, extra, gt = clip_of(bandai2, i)
            yield clip, extra, gt, None
            if clip.meta["split"] == "train":
                twin, twin_gt = mirrored(clip, gt)
                yield twin, {**extra, "mirrored": True}, twin_gt, None
    for i in range(len(new)):
        yield (*clip_of(new, i), i)


def draw_repeats(repeat: int, draws: int) -> list[int]:
    """A clip drawn `repeat` times per epoch, spread as evenly as it goes over at most `draws` noise draws."""
    n = max(1, min(draws, repeat))
    return [repeat // n + (d < repeat % n) for d in range(n)]


def noise_draw_seed(seed: int, draw: int) -> int:
    """The simulator seed of draw k (draw 0 keeps the run's seed, so one-draw caches are unchanged)."""
    return seed + 1_000_003 * draw


def rare_actions(caches: list[Cache]) -> set[str]:
    """Contents with at most RARE_CLIPS original (not mirrored) clips over all the caches."""
    counts: dict[str, int] = {}
    for cache in caches:
        for c in cache.clips:
            # a noisy cache keeps the ids, not the "mirrored" flag
            mirror = c.get("mirrored") or str(c.get("id", "")).endswith("_mirror")
            if not mirror and c.get("content"):
                counts[c["content"]] = counts.get(c["content"], 0) + 1
    return {k for k, n in counts.items() if n <= RARE_CLIPS}


def write_merged(
    bandai2: Cache | None,
    draws: list[Cache],
    out: Path,
    weights: dict[str, int],
    name: str,
    extra_meta: dict,
    rare_boost: int = 1,
    action_weights: dict[str, int] | None = None,
) -> Cache:
    """Dataset-2 and the new sources in one cache. draws: the new sources' caches, one per noise draw
    (a clean cache is its own single draw); a new-source train clip enters once per draw."""
    if is_complete(out):
        print(f"prepare_multi: {out} is complete, kept", file=sys.stderr)
        return Cache(out)
    new = draws[0]
    first = bandai2 if bandai2 is not None else new
    noisy = first.noisy
    if any(noisy != d.noisy for d in draws):
        raise RoparError(f"{first.path} and {new.path}: one is noisy, the other clean")
    target = first.meta.get("target_credible_ratio")
    rare = rare_actions([c for c in (bandai2, new) if c is not None]) if rare_boost > 1 else set()
    with CacheWriter(
        out,
        name,
        noisy=noisy,
        target_credible_ratio=target,
        extra_meta={
            **extra_meta,
            "sampling_weights": weights,
            "rare_boost": rare_boost,
            "rare_actions": sorted(rare),
            "action_weights": dict(action_weights or {}),
            "noise_draws": len(draws),
        },
    ) as w:
        for clip, extra, gt, i in merged_clips(bandai2, new):
            train = clip.meta["split"] == "train"
            repeat = weights.get(clip.source, 1) if train else 1
            repeat *= rare_boost if clip.meta["content"] in rare else 1
            repeat *= (action_weights or {}).get(clip.meta["content"], 1) if train else 1
            if i is None or not train:
                w.add(clip, clean_features=gt, extra={**extra, "repeat": repeat})
                continue
            for d, r in enumerate(draw_repeats(repeat, len(draws))):
                if d:
                    clip, extra, gt = clip_of(draws[d], i)
                    clip.id, extra = f"{clip.id}~noise{d}", {**extra, "noise_draw": d}
                w.add(clip, clean_features=gt, extra={**extra, "repeat": r})
    return Cache(out)


# ---------------------------------------------------------------------------------------------
# Vocabulary summary.


def vocabulary(cache: Cache) -> list[dict]:
    """Per (source, action): clips and minutes, originals only (mirrors are not new takes)."""
    rows: dict[tuple[str, str], dict] = {}
    for c in cache.clips:
        if c.get("mirrored"):
            continue
        key = (c.get("source", ""), c.get("content", "") or "unlabelled")
        row = rows.setdefault(
            key,
            {
                "action": key[1],
                "source": key[0],
                "clips": 0,
                "minutes": 0.0,
                "licence": LICENCES.get(key[0], ""),
                "example": c["texts"][0],
            },
        )
        row["clips"] += 1
        row["minutes"] += c["length"] / FPS / 60.0
    out = sorted(rows.values(), key=lambda r: (r["source"], -r["minutes"]))
    for r in out:
        r["minutes"] = round(r["minutes"], 2)
    return out


# ---------------------------------------------------------------------------------------------
# Command line.


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m training.prepare_multi", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "--bandai2-cache", help="training.prepare's output (with clean/ and noisy/); leave it out for a "
        "cache without Bandai data (the commercial-use sources alone)"
    )
    ap.add_argument("--bandai1", help="Bandai dataset-1 folder")
    ap.add_argument("--cmu", help="CMU iClone folder (CMU data.csv, bvh/)")
    ap.add_argument("--deepmimic", help="DeepMimic folder (characters/, motions/)")
    ap.add_argument("--cmu-asf-amc", help="CMU ASF/AMC folder (TRIALS.tsv, <subject>/*.amc)")
    ap.add_argument("--cmu-dance", help="CMU dance BVH folder (CLIPS.tsv, salsa/, indian/, martial/)")
    ap.add_argument("--reactidle", help="ReActIdle folder (CLIPS.tsv, acted/, genuine/)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--noisy-ratio", type=float, default=0.5)
    ap.add_argument(
        "--weights",
        type=parse_weights,
        default=dict(DEFAULT_WEIGHTS),
        help="per-source repeats of a train clip per epoch, e.g. bandai2=1,cmu=8",
    )
    ap.add_argument(
        "--rare-boost",
        type=int,
        default=1,
        help=f"multiply the repeats of actions with <= {RARE_CLIPS} takes (train split) by this",
    )
    ap.add_argument(
        "--action-weights",
        type=parse_action_weights,
        default={},
        help="per-action repeats of a train clip per epoch, e.g. walk=3 "
             "(Bandai contents, CMU/DeepMimic actions)",
    )
    ap.add_argument(
        "--noise-draws",
        type=int,
        default=1,
        help="film each new-source train clip this many times "
             "(independent noise; its repeats spread over them)",
    )
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tau", type=float, default=DEFAULT_TAU)
    return ap


def run(spec: MultiSpec) -> str:
    out, src = Path(spec.out), (Path(spec.bandai2_cache) if spec.bandai2_cache else None)
    if src is not None and not (src / "clean").is_dir():
        raise RoparError(f"{src}: no clean/ cache there (run training.prepare first)")
    if spec.noise_draws < 1:
        raise RoparError(f"--noise-draws must be at least 1, got {spec.noise_draws}")
    work = out / "_work"
    new_clean = write_new_clean(spec, work / "new_clean")
    new_noisy = [work / ("new_noisy" + (f"_draw{k}" if k else "")) for k in range(spec.noise_draws)]
    for k, path in enumerate(new_noisy):
        if not is_complete(path):
            seed = noise_draw_seed(spec.seed, k)
            simulate_noise.simulate_cache(new_clean.path, path, spec.noisy_ratio, seed, spec.tau,
                                          spec.workers)
    for sub in ("clean", "noisy") if src is not None else ():
        if not is_complete(src / sub):
            raise RoparError(
                f"{src / sub}: not a finished cache (run training.prepare first, or wait for it)"
            )
    sources = {c.get("source", "") for c in new_clean.clips} | ({"bandai2"} if src is not None else set())
    meta = {"seed": spec.seed, "sources": sorted(sources),
            "bandai2_cache": None if src is None else str(src.resolve())}
    clean = write_merged(
        None if src is None else Cache(src / "clean"), [new_clean], out / "clean", spec.weights,
        "multi-clean", meta, spec.rare_boost, spec.action_weights,
    )
    noisy = write_merged(
        None if src is None else Cache(src / "noisy"),
        [Cache(p) for p in new_noisy],
        out / "noisy",
        spec.weights,
        f"multi-noisy-r{round(100 * spec.noisy_ratio)}",
        meta,
        spec.rare_boost,
        spec.action_weights,
    )
    vocab = vocabulary(clean)
    write_text(out / "vocabulary.json", json.dumps(vocab, indent=1) + "\n")
    lines = [
        f"clean {clean.path}: {len(clean)} clips; noisy {noisy.path}: {len(noisy)} clips, credible-token "
        f"ratio {noisy.credible_token_ratio():.3f}"
    ]
    lines += [
        f"  {r['source']:9s} {r['action']:22s} {r['clips']:4d} clips {r['minutes']:7.2f} min" for r in vocab
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    try:
        print(run(MultiSpec(**vars(build_parser().parse_args(argv)))))
    except RoparError as exc:
        return cli_error("prepare_multi", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
