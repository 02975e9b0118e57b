"""WHAM (video -> world-grounded SMPL) output plus the video's 2D keypoints -> one `Clip` with a
credibility mask: the paper's K700-M recipe for one tracked person.

Motion input, one of
- an `.npz` export (read without pickle): `joints` / `joints_world` (T, >= 22, 3), or SMPL parameters
  `pose_world` | `poses` | `pose` (T, 72) (or `poses_body` (T, 63|69) with `root_orient` /
  `global_orient` (T, 3)), `trans_world` | `trans` (T, 3), `betas` (10,) or (T, 10); optional
  `frame_ids` (T,) video frame of each row and `fps`;
- WHAM's own `wham_output.pkl` (joblib, {track_id: {...}}) or a `.pth`: pickles, read only with
  `trust_pickle=True` (a pickle can run code), with a warning.
WHAM's world frame has its own up axis; `normalise_joints` finds it (head above feet) and turns it into
Y up.

2D keypoints: any `ropar_core.keypoints` format, or a `ropar credibility` MASK.json. Rows are video
frames; `frame_ids` pick this track's frames (otherwise the lengths must agree). The per-frame mask is
resampled to 20 fps conservatively and then cut to the feature frames (a feature frame needs both of
its joint frames credible).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ropar_core import credibility as cred
from ropar_core.errors import MotionFileError, RoparError
from ropar_core.skeleton import FPS, NUM_JOINTS
from training.data.importers import Clip, features_from_joints, set_split
from training.data.importers.npz import read_npz
from training.data.importers.smpl_model import body_joints, load_body_model

SOURCE = "wham"
DEFAULT_FPS = 30.0
_JOINT_KEYS = ("joints_world", "joints", "joints3d")
_POSE_KEYS = ("pose_world", "poses", "pose")
_ROOT_KEYS = ("root_orient", "global_orient")
_TRANS_KEYS = ("trans_world", "trans", "transl")


def _read_pickle(path: Path, trust_pickle: bool) -> dict:
    if not trust_pickle:
        raise RoparError(f"{path}: {path.suffix} files are pickles and can run code when loaded; export an "
                         ".npz or pass trust_pickle=True for a file you produced yourself")
    warnings.warn(f"unpickling {path} (trust_pickle=True): only do this for files you produced", stacklevel=3)
    try:
        if path.suffix == ".pth":
            import torch

            data = torch.load(path, map_location="cpu", weights_only=False)  # trusted by the caller
        else:
            import joblib  # WHAM writes its output with joblib.dump

            data = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise MotionFileError(f"{path.name}: cannot load ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise MotionFileError(f"{path.name}: expected a dict, got {type(data).__name__}")
    return data


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _pick_track(data: dict, track: str | int | None, name: str) -> tuple[dict, str | None]:
    """WHAM pickles map track id -> result dict; an .npz (or a single result) is used as is."""
    nested = {k: v for k, v in data.items() if isinstance(v, dict)}
    if not nested:
        return data, None
    if track is not None:
        for k in nested:
            if str(k) == str(track):
                return nested[k], str(k)
        raise MotionFileError(f"{name}: no track {track} (tracks: {', '.join(map(str, nested))})")

    def length(k):
        d = nested[k]
        arr = next((d[key] for key in _JOINT_KEYS + _POSE_KEYS + ("frame_ids",) if key in d), [])
        return len(_numpy(arr))

    k = max(nested, key=length)  # the longest track
    return nested[k], str(k)


def _first(d: dict, keys: tuple[str, ...]):
    return next((_numpy(d[k]) for k in keys if k in d), None)


def read_wham_output(path: str | Path, trust_pickle: bool = False, track: str | int | None = None) -> dict:
    """-> {"joints" (T, 22, 3) | None, "poses" (T, 72) | None, "trans", "betas", "frame_ids", "fps",
    "track"}."""
    path = Path(path)
    if not path.exists():
        raise MotionFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        raw = read_npz(path)
    elif suffix in (".pkl", ".pth", ".pt"):
        raw = _read_pickle(path, trust_pickle)
    else:
        raise MotionFileError(f"{path.name}: WHAM output must be .npz (or a trusted .pkl/.pth)")
    data, track_id = _pick_track(raw, track, path.name)
    T = None
    joints = _first(data, _JOINT_KEYS)
    poses = _first(data, _POSE_KEYS)
    if poses is None and "poses_body" in data:
        root = _first(data, _ROOT_KEYS)
        if root is None:
            raise MotionFileError(f"{path.name}: poses_body without root_orient/global_orient")
        poses = np.concatenate([root.reshape(len(root), 3), _numpy(data["poses_body"])], axis=1)
    if joints is not None:
        joints = joints.astype(np.float64)
        if joints.ndim != 3 or joints.shape[1] < NUM_JOINTS or joints.shape[2] != 3:
            raise MotionFileError(f"{path.name}: joints {joints.shape}; expected (frames, >= 22, 3)")
        joints = joints[:, :NUM_JOINTS]
        T = len(joints)
    elif poses is not None:
        poses = poses.astype(np.float64).reshape(len(poses), -1)
        if poses.shape[1] < 3 * NUM_JOINTS:
            raise MotionFileError(f"{path.name}: poses {poses.shape}; expected (frames, 72) SMPL axis-angle")
        T = len(poses)
    else:
        raise MotionFileError(f"{path.name}: no joints ({', '.join(_JOINT_KEYS)}) or SMPL poses "
                              f"({', '.join(_POSE_KEYS)}, poses_body)")
    trans = _first(data, _TRANS_KEYS)
    trans = np.zeros((T, 3)) if trans is None else trans.astype(np.float64).reshape(-1, 3)
    betas = _first(data, ("betas",))
    if betas is not None:
        betas = betas.astype(np.float64)
        betas = betas.mean(axis=0) if betas.ndim == 2 else betas.reshape(-1)  # per-frame -> one body
    frame_ids = _first(data, ("frame_ids", "frame_id"))
    fps = _first(data, ("fps",))
    out = {"joints": joints, "poses": poses, "trans": trans, "betas": betas, "track": track_id,
           "frame_ids": None if frame_ids is None else frame_ids.astype(np.int64).reshape(-1),
           "fps": None if fps is None else float(fps.reshape(-1)[0])}
    for key in ("joints", "poses", "trans"):
        arr = out[key]
        if arr is not None and (len(arr) != T or not np.isfinite(arr).all()):
            raise MotionFileError(
                f"{path.name}: {key} has {len(arr)} rows for {T} frames or non-finite values")
    if out["frame_ids"] is not None and len(out["frame_ids"]) != T:
        raise MotionFileError(f"{path.name}: {len(out['frame_ids'])} frame_ids for {T} frames")
    if T < 2:
        raise MotionFileError(f"{path.name}: only {T} frame(s)")
    return out


def _video_mask(keypoints: Path, fmt: str, tau: float, min_gap: int, min_island: int,
                kp_track: str | None) -> cred.Credibility:
    if keypoints.suffix.lower() == ".json" and not keypoints.is_dir():
        try:
            head = json.loads(keypoints.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            head = None
        if isinstance(head, dict) and "frame_mask" in head and "parts" in head:  # a ropar credibility file
            return cred.Credibility.from_dict(head, source=str(keypoints))
    return cred.credibility_from_file(keypoints, fmt, tau=tau, min_gap=min_gap, min_island=min_island,
                                      track_id=kp_track)


def align_mask(
    frame_mask: np.ndarray, frame_ids: np.ndarray | None, num_frames: int, name: str
) -> np.ndarray:
    """Video-frame mask (Tv, 5) -> the motion's frames (T, 5)."""
    if frame_ids is not None:
        if frame_ids.min() < 0 or frame_ids.max() >= len(frame_mask):
            raise MotionFileError(f"{name}: frame_ids reach frame {frame_ids.max()} but the keypoints have "
                                  f"{len(frame_mask)} frames")
        if np.any(np.diff(frame_ids) != 1):
            raise MotionFileError(f"{name}: frame_ids are not consecutive; split the track at its gaps")
        return frame_mask[frame_ids]
    if len(frame_mask) != num_frames:
        raise MotionFileError(f"{name}: {num_frames} motion frames but {len(frame_mask)} keypoint frames "
                              "(and no frame_ids to align them)")
    return frame_mask


def import_wham(
    output: str | Path, keypoints: str | Path, texts: list[str] | None = None, keypoints_format: str = "auto",
    model_dir: str | Path | None = None, gender: str = "neutral", fps: float | None = None,
    track: str | int | None = None, keypoints_track: str | None = None, trust_pickle: bool = False,
    tau: float = cred.DEFAULT_TAU, min_gap: int = cred.DEFAULT_MIN_GAP,
    min_island: int = cred.DEFAULT_MIN_ISLAND, clip_id: str | None = None, subject: str = "",
    split_seed: int = 0,
) -> Clip:
    """One WHAM track + its video's 2D keypoints -> Clip (features at 20 fps, frame_mask from
    credibility). `model_dir` (an SMPL model) is needed only when the output has parameters, not joints."""
    output, keypoints = Path(output), Path(keypoints)
    data = read_wham_output(output, trust_pickle, track)
    rate = fps or data["fps"] or DEFAULT_FPS
    joints = data["joints"]
    if joints is None:
        if model_dir is None:
            raise RoparError(f"{output.name}: has SMPL parameters, not joints; pass the SMPL model folder")
        model = load_body_model(model_dir, "smpl", gender, trust_pickle)
        joints = body_joints(model, data["poses"], data["trans"], data["betas"])  # (T, 22, 3)
    feats, report = features_from_joints(joints, rate)  # (T20 - 1, 263)

    video = _video_mask(keypoints, keypoints_format, tau, min_gap, min_island, keypoints_track)
    mask = align_mask(video.frame_mask, data["frame_ids"], len(joints), keypoints.name)  # (T, 5) video rate
    mask20 = cred.resample_frame_mask(mask, rate, FPS, num_frames=report["frames_20fps"])  # (T20, 5)
    frame_mask = cred.features_frame_mask(mask20)  # (T20 - 1, 5)
    cid = clip_id or (output.stem if data["track"] is None else f"{output.stem}/track{data['track']}")
    clip = Clip(id=cid, features=feats, texts=list(texts or []), frame_mask=frame_mask, source=SOURCE,
                subject=subject or output.stem, split_key=f"{SOURCE}/{subject or output.stem}",
                meta={"file": output.name, "keypoints": keypoints.name, "fps_in": rate,
                      "track": data["track"],
                      "credibility": video.per_part, "person": video.person, "tau": video.tau,
                      "credible_frame_ratio": float(frame_mask.mean()) if frame_mask.size else 0.0,
                      "normalise": report})
    return set_split(clip, seed=split_seed)
