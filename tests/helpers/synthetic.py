"""Synthetic motion caches for the evaluator / evaluate / report tests.

Motions are built by forward kinematics from hand-made joint rotations (walk, run, wave one hand, raise
both hands; an "elderly" style is slower and smaller), turned into HumanML3D-263 features by
`ropar_core.features.joints_to_features`, and written in the cache format of docs/architecture.md.
Noisy caches corrupt whole parts the way video reconstruction does (frozen limb + jitter, in feature
space) and mark them not credible; `clean_features.npy` keeps the ground truth.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from ropar_core import features as feats
from ropar_core import skeleton as sk
from training.data.cache import CacheWriter
from training.data.importers import Clip

CONTENTS = ("walk", "run", "wave-left-hand", "wave-right-hand", "raise-up-both-hands")


STYLES = ("normal", "elderly")


CAPTIONS = {
    "walk": ("a person walks forward", "someone walks ahead", "a person takes steps forward"),
    "run": ("a person runs forward", "someone jogs ahead", "a person sprints forward"),
    "wave-left-hand": ("a person waves the left hand", "someone waves with the left hand",
                       "a person raises the left hand and waves"),
    "wave-right-hand": ("a person waves the right hand", "someone waves with the right hand",
                        "a person raises the right hand and waves"),
    "raise-up-both-hands": ("a person raises both hands", "someone lifts both arms up",
                            "a person puts both hands up"),
}


STYLE_WORDS = {"normal": "normally", "elderly": "slowly like an old man"}


PELVIS_HEIGHT = 0.93


def _axis_angle(axis, angle) -> np.ndarray:
    """(T,) angles about a fixed axis -> (T, 4) wxyz quaternions."""
    axis = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    half = np.asarray(angle, np.float64)[:, None] / 2
    return np.concatenate([np.cos(half), np.sin(half) * axis], axis=1)


def synthetic_joints(content: str, style: str, frames: int, rng: np.random.Generator) -> np.ndarray:
    """(frames, 22, 3) metres, Y up, facing +Z."""
    scale = 0.6 if style == "elderly" else 1.0
    t = np.arange(frames) / sk.FPS
    phase = rng.uniform(0, 2 * np.pi)
    rot = np.zeros((frames, sk.NUM_JOINTS, 4))
    rot[..., 0] = 1.0
    root = np.zeros((frames, 3))
    root[:, 1] = PELVIS_HEIGHT
    x_axis, z_axis = (1, 0, 0), (0, 0, 1)
    if content in ("walk", "run"):
        speed, freq, amp = (1.3, 1.8, 0.5) if content == "walk" else (3.0, 2.8, 0.9)
        swing = amp * scale * np.sin(2 * np.pi * freq * scale * t + phase)
        root[:, 2] = speed * scale * t
        root[:, 1] += (0.03 if content == "run" else 0.01) * np.abs(np.sin(2 * np.pi * freq * t + phase))
        rot[:, 1], rot[:, 2] = _axis_angle(x_axis, -swing), _axis_angle(x_axis, swing)  # hips
        rot[:, 4] = _axis_angle(x_axis, np.maximum(swing, 0))  # knees bend on the back swing
        rot[:, 5] = _axis_angle(x_axis, np.maximum(-swing, 0))
        rot[:, 16], rot[:, 17] = _axis_angle(x_axis, swing * 0.6), _axis_angle(x_axis, -swing * 0.6)  # arms
    else:
        ramp = np.clip(t / 0.6, 0, 1)
        lift = np.deg2rad(150 if scale == 1.0 else 110) * ramp
        wave = np.deg2rad(35) * scale * np.sin(2 * np.pi * 2.0 * scale * t + phase) * ramp
        if content in ("wave-left-hand", "raise-up-both-hands"):
            rot[:, 16] = _axis_angle(z_axis, lift)
            if content == "wave-left-hand":
                rot[:, 18] = _axis_angle(z_axis, wave)
        if content in ("wave-right-hand", "raise-up-both-hands"):
            rot[:, 17] = _axis_angle(z_axis, -lift)
            if content == "wave-right-hand":
                rot[:, 19] = _axis_angle(z_axis, -wave)
        root[:, 0] = 0.01 * np.sin(2 * np.pi * 0.5 * t + phase)  # a little sway
    return feats.fk(rot, root)


def _corrupt(features: np.ndarray, noisy_parts: list[str], rng: np.random.Generator) -> np.ndarray:
    """Video-like corruption of whole parts in feature space: the own joints' positions and rotations
    freeze at frame 0 (plus jitter), their velocities become jitter."""
    out = features.copy()
    for part in noisy_parts:
        for j in sk.PART_OWN_JOINTS[part]:
            for chans in (sk.ric_channels(j), sk.rot_channels(j)):
                out[:, chans] = features[0, chans] + rng.normal(0, 0.03, size=(len(features), len(chans)))
            out[:, sk.vel_channels(j)] = rng.normal(0, 0.01, size=(len(features), 3))
    return out


def synthetic_clips(per_label: int = 8, seed: int = 0, frames=(44, 84)) -> list[dict]:
    rng = np.random.default_rng(seed)
    clips = []
    for content in CONTENTS:
        for style in STYLES:
            for i in range(per_label):
                length = int(rng.integers(frames[0], frames[1] + 1))
                joints = synthetic_joints(content, style, length + 1, rng)
                features = feats.joints_to_features(joints)  # (length, 263), computed once
                pool = [f"{c} {STYLE_WORDS[style]}" for c in CAPTIONS[content]]
                texts = [pool[j] for j in rng.choice(len(pool), size=2, replace=False)]
                split = "test" if i % 4 == 0 else "val" if i % 4 == 1 and per_label >= 8 else "train"
                clips.append({"id": f"{content}_{style}_{i:03d}", "features": features, "texts": texts,
                              "split": split, "content": content, "style": style})
    return clips


def write_cache(out: Path, clips: list[dict], target_ratio: float | None = None, seed: int = 0) -> Path:
    """Write clips with training.data.cache.CacheWriter; target_ratio (credible share of parts) makes
    it noisy."""
    rng = np.random.default_rng(seed + 7)
    noisy = target_ratio is not None
    extra = {"fingerprint": f"synthetic-{seed}-{target_ratio}"}  # equal data -> equal fingerprint
    with CacheWriter(out, name=out.name, noisy=noisy, target_credible_ratio=target_ratio,
                     extra_meta=extra) as writer:
        for clip in clips:
            clean = clip["features"]  # (T, 263)
            credible = np.ones((len(clean), sk.NUM_PARTS), bool)
            corrupted = clean
            if noisy and target_ratio < 1.0:
                # Each limb is noisy over the whole clip with probability 1 - ratio; the torso always stays.
                noisy_parts = [p for p in sk.PART_NAMES[1:] if rng.random() > target_ratio]
                if noisy_parts:
                    corrupted = _corrupt(clean, noisy_parts, rng)
                    for p in noisy_parts:
                        credible[:, sk.PART_NAMES.index(p)] = False
            record = Clip(clip["id"], corrupted, clip["texts"], credible, source="synthetic",
                          subject=clip["id"], meta={"content": clip["content"], "style": clip["style"]})
            writer.add(record, split=clip["split"], clean_features=clean if noisy else None)
    return out


def make_synthetic_caches(root: Path, per_label: int = 8, seed: int = 0, names=None) -> dict[str, Path]:
    """clean, noisy (ratio 0.5), noisy_r30, noisy_r50, noisy_r70 caches under root (`names`: those, or the
    noisy_video_r30 / _r50 / _r70 folders the paper's tables read, written the same way)."""
    clips = synthetic_clips(per_label, seed)
    ratios = {"clean": None, "noisy": 0.5, "noisy_r30": 0.3, "noisy_r50": 0.5, "noisy_r70": 0.7,
              "noisy_video_r30": 0.3, "noisy_video_r50": 0.5, "noisy_video_r70": 0.7}
    chosen = names or ["clean", "noisy", "noisy_r30", "noisy_r50", "noisy_r70"]
    return {n: write_cache(root / n, clips, ratios[n], seed) for n in chosen}


class HashTextEncoder:
    """A stand-in for ropar_core.text.TextEncoder in fast tests: bag-of-words hashing -> unit vectors, so
    captions that share words are similar (left/right hand captions differ by one word)."""

    name = "hash-bow"

    def __init__(self, dim: int = 64):
        self.dim = dim

    def encode(self, texts):
        import torch

        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().replace(",", " ").split():
                h = np.random.default_rng(zlib.crc32(word.encode())).normal(size=self.dim)
                out[i] += h
        out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-9
        return torch.from_numpy(out)
