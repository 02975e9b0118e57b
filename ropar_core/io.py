"""Motion files: load_motion/save_motion for .bvh .npz .npy .json; CMU's .amc (+ .asf) read by asf_amc.

A `Motion` (motion.py) holds SMPL-22 joints in metres, Y up, and optionally rotations in the convention
of `ropar_core.features` (HumanML3D's: the root's r_rot, then the swing of the bone ending at each joint).
BVH files go through `bvh.read_bvh` and `bone_maps.bvh_to_smpl22`, and are written by `bvh.write_bvh`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ropar_core import features as F
from ropar_core import limits
from ropar_core import skeleton as sk
from ropar_core.atomic import atomic_path, write_text
from ropar_core.bone_maps import bvh_to_smpl22
from ropar_core.bvh import read_bvh, write_bvh
from ropar_core.errors import MotionFileError
from ropar_core.motion import Motion, resample_motion

FORMATS = ("bvh", "npz", "h3d263", "joints", "json", "amc")


# ---------------------------------------------------------------------------------------------
# load_motion / save_motion.
_SUFFIX_FORMAT = {".bvh": "bvh", ".npz": "npz", ".json": "json", ".npy": "npy", ".amc": "amc"}


def _format_for(path: Path, fmt: str | None, writing: bool) -> str:
    if writing and (fmt or path.suffix).lower().lstrip(".") == "amc":
        raise MotionFileError(f"{path.name}: AMC is read only; write .bvh, .npy, .npz or .json")
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise MotionFileError(f"unknown motion format {fmt!r}; choose from {', '.join(FORMATS)}")
        return fmt
    guessed = _SUFFIX_FORMAT.get(path.suffix.lower())
    if guessed is None:
        raise MotionFileError(f"{path.name}: unknown motion file type {path.suffix!r} "
                              "(use .bvh, .npz, .npy or .json)")
    if guessed == "npy" and writing:
        return "h3d263"
    return guessed


def _array_from_json(name: str, value, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise MotionFileError(f"{name}: '{what}' is not a rectangular array of numbers") from None
    return arr


def _load_npy(path: Path, fmt: str) -> Motion:
    limits.check_npy_header(path)
    try:
        with limits.open_regular(path) as fh:
            arr = np.load(fh, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise MotionFileError(f"{path.name}: not a readable .npy array ({exc})") from None
    if fmt == "npy":
        fmt = "h3d263" if arr.ndim == 2 and arr.shape[-1] == sk.FEATURE_DIM else "joints"
    try:
        if fmt == "h3d263":
            return Motion(F.features_to_joints(arr), F.features_to_rotations(arr), float(sk.FPS))
        return Motion(arr, None, float(sk.FPS))
    except MotionFileError as exc:
        raise MotionFileError(f"{path.name}: {exc}") from None


def _npz_scalar(path: Path, data, key: str, kind):
    value = data[key]
    if value.shape != () or value.dtype.kind not in ("U" if kind is str else "iuf"):
        raise MotionFileError(f"{path.name}: '{key}' must be a single {kind.__name__}, got {value.dtype} "
                              f"{value.shape}")
    if kind is int and not (value.dtype.kind in "iu" or float(value).is_integer()):
        raise MotionFileError(f"{path.name}: 'seed' must be a whole number")
    return kind(value)


def _load_npz(path: Path) -> Motion:
    try:
        with limits.open_regular(path) as fh, np.load(fh, allow_pickle=False) as data:
            if "joints" not in data.files:
                raise MotionFileError(f"{path.name}: no 'joints' array (keys: {', '.join(data.files)[:80]})")
            joints = data["joints"]
            rot = data["rotations"] if "rotations" in data.files else None
            fps = _npz_scalar(path, data, "fps", float) if "fps" in data.files else float(sk.FPS)
            text = _npz_scalar(path, data, "text", str) if "text" in data.files else ""
            seed = _npz_scalar(path, data, "seed", int) if "seed" in data.files else None
    except (ValueError, OSError, TypeError, EOFError, OverflowError, zipfile.BadZipFile,
            zipfile.LargeZipFile, NotImplementedError) as exc:  # a truncated or foreign zip
        raise MotionFileError(f"{path.name}: not a readable .npz motion ({type(exc).__name__}: "
                              f"{str(exc)[:80]})") from None
    try:
        return Motion(joints, rot, fps, text, seed)
    except MotionFileError as exc:
        raise MotionFileError(f"{path.name}: {exc}") from None


def _load_json(path: Path) -> Motion:
    data = limits.read_json_file(path, path.name)
    if not isinstance(data, dict) or "joints" not in data:
        raise MotionFileError(f"{path.name}: expected an object with 'joints' (and 'fps', 'rotations', "
                              "'text')")
    joints = _array_from_json(path.name, data["joints"], "joints")
    rot = data.get("rotations")
    rot = None if rot is None else _array_from_json(path.name, rot, "rotations")
    fps = data.get("fps", sk.FPS)
    seed, text = data.get("seed"), data.get("text", "")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise MotionFileError(f"{path.name}: 'seed' must be a whole number or null, got {str(seed)[:20]}")
    if not isinstance(text, str):
        raise MotionFileError(f"{path.name}: 'text' must be a string")
    try:
        return Motion(joints, rot, fps, text, seed)
    except (MotionFileError, TypeError, ValueError) as exc:
        raise MotionFileError(f"{path.name}: {exc}") from None


def load_motion(path, fmt: str | None = None, fps: float | None = sk.FPS, bone_map=None,
                scale: float | None = None, asf=None, amc_fps: float | None = None) -> Motion:
    """Read a motion (.bvh .npz .npy .json .amc; `fmt` overrides the suffix: bvh, npz, h3d263, joints,
    json, amc) as SMPL-22 joints in metres, Y up, resampled to `fps` (None keeps the file's rate). `scale`:
    metres per BVH unit (default: guessed, see features.unit_scale) or per ASF unit (default: the ASF's).
    An .amc reads its skeleton from `asf` (default: found beside it) and is `amc_fps` frames per second
    (default: from the dataset's trial list, see asf_amc.trial_fps)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise MotionFileError(f"no such motion file: {path}")
    with limits.open_regular(path, "motion file"):  # no device, FIFO, folder or symlink loop
        pass
    fmt = _format_for(path, fmt, writing=False)
    if fmt == "bvh":
        bvh = read_bvh(path)
        joints, src_fps = bvh_to_smpl22(bvh, bone_map, scale)
        motion = Motion(joints, None, src_fps)
    elif fmt == "amc":
        from ropar_core import asf_amc  # here: it brings scipy, which generating a motion never needs

        joints, src_fps = asf_amc.load_amc(path, asf, amc_fps, scale)
        motion = Motion(joints, None, src_fps)
    elif fmt in ("npy", "h3d263", "joints"):
        motion = _load_npy(path, fmt)
    elif fmt == "npz":
        motion = _load_npz(path)
    else:
        motion = _load_json(path)
    return motion if fps is None else resample_motion(motion, float(fps))


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a handle: np.save would append ".npy"
        np.save(fh, arr)


def save_motion(path, motion: Motion, fmt: str | None = None) -> None:
    """Write atomically: .bvh (SMPL-22), .npz (joints, rotations, fps, text, seed), .npy (h3d263 features
    at 20 fps, T-1 rows; fmt="joints" for T x 22 x 3), .json."""
    path = Path(path)
    fmt = _format_for(path, fmt, writing=True)
    if fmt == "bvh":
        write_bvh(path, motion.joints, motion.rotations, motion.fps)
    elif fmt == "h3d263":
        feats = F.joints_to_features(resample_motion(motion, float(sk.FPS)).joints)
        _save_npy(path, feats)
    elif fmt == "joints":
        _save_npy(path, motion.joints.astype(np.float32))
    elif fmt == "npz":
        arrays = {"joints": motion.joints, "fps": np.float64(motion.fps), "text": np.str_(motion.text)}
        if motion.rotations is not None:
            arrays["rotations"] = motion.rotations
        if motion.seed is not None:
            arrays["seed"] = np.int64(motion.seed)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    else:
        payload = {
            "fps": motion.fps, "frames": motion.frames, "text": motion.text, "seed": motion.seed,
            "joints": np.round(motion.joints.astype(np.float64), 6).tolist(),
            "rotations": None if motion.rotations is None
            else np.round(motion.rotations.astype(np.float64), 7).tolist(),
        }
        write_text(path, json.dumps(payload))
