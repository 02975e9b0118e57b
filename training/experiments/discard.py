"""The discard baseline's view of a noisy cache: the noisy data never enters training.

Why whole-body stretches and not parts: leaving only the noisy *parts* out is what the credibility-aware
model already does (the P-VAE's loss skips non-credible channels, Eq. 1; RoPAR never shows or predicts a
non-credible token, Eq. 2), so a part-level discard arm would be `ropar` again. The baseline a
practitioner without part credibility would run is to drop every frame in which any part is not
credible; whole clips alone keep almost nothing (video noise at a credible ratio of 0.5 on 400 takes of
dataset-2: 17 clips, 4 %, are credible throughout), so each clip is cut into its stretches of fully
credible frames, and a stretch enters training when it is at least `min_frames` long (the dataset's
shortest usable clip): on the same takes 64 stretches from 60 clips, 10.7 % of the frames. Each stretch
keeps its clip's captions, split and labels."""

from __future__ import annotations

from pathlib import Path

from ropar_core.errors import RoparError
from ropar_core.runs import true_runs
from training.data.cache import Cache, CacheWriter
from training.data.dataset import DEFAULT_MIN_FRAMES
from training.data.importers import Clip
from training.experiments.runs import source_identity, view_is_of

_OWN_FIELDS = ("start", "length", "texts", "split", "id", "source", "subject", "content", "style")


def credible_stretches(credible, min_frames: int = DEFAULT_MIN_FRAMES) -> list[tuple[int, int]]:
    """[start, end) of the runs of frames in which every part is credible, at least min_frames long."""
    return [(s, e) for s, e in true_runs(credible.all(axis=1)) if e - s >= min_frames]


def discard_cache(src: Path, dst: Path, min_frames: int = DEFAULT_MIN_FRAMES) -> Path:
    """Write the discard view of noisy cache `src` to `dst` (unless it is there, built from this `src`):
    its fully credible stretches as clips (ids "<clip>#<start>"), every frame credible, stats over the
    kept train frames. meta.json says how many frames and clips were kept."""
    if view_is_of(dst, src):
        return dst
    cache = Cache(src)
    kept, kept_frames = set(), 0
    extra = {"discard_of": cache.meta.get("name", src.name), "discard_min_frames": min_frames,
             "credibility_discard": True, "view_of": source_identity(src)}
    with CacheWriter(dst, f"{cache.meta.get('name', src.name)}-discard", noisy=cache.noisy,
                     target_credible_ratio=cache.meta.get("target_credible_ratio"), extra_meta=extra) as w:
        for i, rec in enumerate(cache.clips):
            feats, cred = cache.clip_features(i), cache.clip_credible(i)
            clean = cache.clip_clean_features(i)
            rest = {k: v for k, v in rec.items() if k not in _OWN_FIELDS}
            for s, e in credible_stretches(cred, min_frames):
                w.add(Clip(id=f"{rec['id']}#{s}", features=feats[s:e], texts=rec["texts"],
                           frame_mask=cred[s:e], source=rec.get("source", ""), subject=rec.get("subject", ""),
                           meta={"content": rec.get("content", ""), "style": rec.get("style", "")}),
                      split=rec["split"], clean_features=clean[s:e] if cache.noisy else None,
                      extra={**rest, "discard_from": rec["id"]})
                kept.add(i)
                kept_frames += e - s
        if not any(w.clips[j]["split"] == "train" for j in range(len(w.clips))):
            raise RoparError(f"{src}: no train clip has {min_frames} fully credible frames in a row; "
                             "the discard baseline has nothing to train on")
        w.extra_meta.update(discard_kept_frames=kept_frames, discard_source_frames=int(len(cache.features)),
                            discard_kept_clips=len(kept), discard_source_clips=len(cache.clips))
    return dst
