"""AMASS (SMPL / SMPL+H / SMPL-X parameter .npz files) -> `Clip` records.

Each AMASS file holds `poses` (T, 156 | 165 | 72 axis-angle), `trans` (T, 3), `betas`, `gender` and the
capture rate (`mocap_framerate` in SMPL+H releases, `mocap_frame_rate` in SMPL-X ones). Joints come
from the user's body model through `smpl_model.body_joints` (first 22 joints), then as in HumanML3D
(its raw_pose_processing) the Z-up world becomes Y-up by (x, y, z) -> (-x, z, y) (a proper rotation), and
`normalise_joints` resamples to 20 fps (linear interpolation rather than HumanML3D's every-k-th frame,
so rates that are not multiples of 20 stay on time), floors and faces the motion before
`joints_to_features`.

Subjects: `<dataset>/<subject>/<take>.npz` -> subject "<dataset>/<subject>"; the split follows it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ropar_core.errors import MotionFileError
from training.data.importers import Clip, features_from_joints
from training.data.importers.smpl_model import POSE_DIMS, BodyModel, body_joints, load_body_model

SOURCE = "amass"
Z_UP_TO_Y_UP = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # rows: new x, y, z


def _text(value) -> str:
    v = np.asarray(value)
    v = v.item() if v.ndim == 0 else (v.reshape(-1)[0] if v.size else "")
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def read_amass_npz(path: str | Path, fps: float | None = None) -> dict:
    """-> {"poses" (T, P), "trans" (T, 3), "betas" (B,), "gender" str, "fps" float}, checked."""
    path = Path(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise MotionFileError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise MotionFileError(f"{path.name}: not a readable .npz file ({exc})") from None
    with npz:
        try:
            keys = set(npz.files)
            if "poses" not in keys:
                raise MotionFileError(f"{path.name}: no 'poses' array (keys: {', '.join(sorted(keys))})")
            poses = np.asarray(npz["poses"], dtype=np.float64)
            trans = np.asarray(npz["trans"], dtype=np.float64) if "trans" in keys else None
            betas = np.asarray(npz["betas"], dtype=np.float64).reshape(-1) if "betas" in keys else None
            gender = _text(npz["gender"]) if "gender" in keys else "neutral"
            rate_keys = [k for k in ("mocap_framerate", "mocap_frame_rate", "fps") if k in keys]
            rate = float(np.asarray(npz[rate_keys[0]]).reshape(-1)[0]) if rate_keys else None
        except ValueError as exc:  # object arrays or wrong dtypes
            raise MotionFileError(f"{path.name}: unreadable entry ({exc})") from None
    if poses.ndim != 2 or poses.shape[1] < 66 or len(poses) < 2:
        raise MotionFileError(f"{path.name}: poses {poses.shape}; expected (frames >= 2, 66|72|156|165)")
    if trans is None:
        trans = np.zeros((len(poses), 3))
    if trans.shape != (len(poses), 3):
        raise MotionFileError(f"{path.name}: trans {trans.shape} does not match {len(poses)} pose frames")
    if not (np.isfinite(poses).all() and np.isfinite(trans).all()):
        raise MotionFileError(f"{path.name}: NaN or infinite values in poses/trans")
    rate = fps if fps is not None else rate
    if rate is None or not rate > 0:
        raise MotionFileError(f"{path.name}: no frame rate (mocap_framerate / mocap_frame_rate); pass fps")
    gender = gender.strip().lower() or "neutral"
    return {"poses": poses, "trans": trans, "betas": betas, "gender": gender, "fps": float(rate)}


def amass_joints(data: dict, model: BodyModel) -> np.ndarray:
    """Parameters -> (T, 22, 3) joints, Y up (HumanML3D's axis change), metres."""
    joints = body_joints(model, data["poses"], data["trans"], data["betas"])  # (T, 22, 3) Z up
    return (joints.astype(np.float64) @ Z_UP_TO_Y_UP.T).astype(np.float32)


class ModelCache:
    """Body models by (type, gender), loaded once per import."""

    def __init__(self, model_dir: str | Path, model_type: str | None = None, trust_pickle: bool = False):
        self.model_dir, self.model_type, self.trust_pickle = model_dir, model_type, trust_pickle
        self._models: dict[tuple[str, str], BodyModel] = {}

    def get(self, poses_width: int, gender: str) -> BodyModel:
        mtype = self.model_type or POSE_DIMS.get(poses_width, "smplh")
        key = (mtype, gender)
        if key not in self._models:
            self._models[key] = load_body_model(self.model_dir, mtype, gender, self.trust_pickle)
        return self._models[key]


def subject_of(rel: Path) -> str:
    parts = rel.parts
    if len(parts) >= 3:
        return "/".join(parts[:2])
    return parts[0] if len(parts) == 2 else rel.stem


def load_amass_clip(path: str | Path, root: str | Path, models: ModelCache, texts: list[str] | None = None,
                    fps: float | None = None) -> Clip:
    path, root = Path(path), Path(root)
    rel = path.relative_to(root)
    data = read_amass_npz(path, fps)
    model = models.get(data["poses"].shape[1], data["gender"])
    feats, report = features_from_joints(amass_joints(data, model), data["fps"])  # (T20 - 1, 263)
    subject = subject_of(rel)
    return Clip(id=rel.with_suffix("").as_posix(), features=feats, texts=list(texts or []), source=SOURCE,
                subject=subject, split_key=f"{SOURCE}/{subject}",
                meta={"file": rel.as_posix(), "fps_in": data["fps"], "gender": data["gender"],
                      "model": Path(model.path).name, "model_type": model.model_type, "normalise": report})


def is_motion_file(path: Path) -> bool:
    """AMASS folders also hold `shape.npz` (betas only) files."""
    if path.name == "shape.npz":
        return False
    try:
        with np.load(path, allow_pickle=False) as npz:
            return "poses" in npz.files
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        return True  # let the loader report the problem
