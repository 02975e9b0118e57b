"""SMPL-family body models (SMPL, SMPL+H, SMPL-X) -> the 22 body joints, through `smplx`'s LBS code.

Only the 22 body joints are needed, and they are the same kinematic sub-tree (same parents, same order)
in all three families, so one routine serves them all: shape the template with the betas, regress the
rest joints (`smplx.lbs.vertices2joints`), pose them (`batch_rodrigues`, `batch_rigid_transform`) and
add the translation, as `smplx`'s forward pass does for its joints (hand, face and pose-corrective
terms do not move body joints).

Model files are the user's (licensed separately). `.npz` files are read with `allow_pickle=False`
(entries that would need unpickling, e.g. SMPL-X's name tables, are not needed and are skipped);
`.pkl` files are unpickled only with `trust_pickle=True`.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ropar_core.errors import ModelError
from ropar_core.skeleton import NUM_JOINTS, PARENTS
from training.data.importers.npz import read_npz

MODEL_TYPES = ("smpl", "smplh", "smplx")
POSE_DIMS = {72: "smpl", 156: "smplh", 165: "smplx"}  # full axis-angle pose widths
REQUIRED_KEYS = ("v_template", "shapedirs", "J_regressor", "kintree_table")


@dataclass
class BodyModel:
    path: str
    v_template: np.ndarray  # (V, 3)
    shapedirs: np.ndarray  # (V, 3, B)
    j_regressor: np.ndarray  # (22, V), body rows only
    model_type: str = ""
    gender: str = ""

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[-1])


def candidate_files(model_dir: Path, model_type: str, gender: str) -> list[Path]:
    """Where SMPL-family files usually live: smplx's `<type>/<TYPE>_<GENDER>.<ext>` and AMASS's
    `<type>/<gender>/model.npz`, for the gender asked for and then neutral."""
    out = []
    for g in dict.fromkeys([gender.lower(), "neutral"]):
        for ext in ("npz", "pkl"):
            for d in (model_dir / model_type, model_dir):
                out += [d / g / f"model.{ext}", d / f"{model_type.upper()}_{g.upper()}.{ext}"]
    return out


def find_model_file(model: str | Path, model_type: str, gender: str) -> Path:
    model = Path(model)
    if model.is_file():
        return model
    if not model.is_dir():
        raise ModelError(f"{model}: body model file or folder not found")
    for cand in candidate_files(model, model_type, gender):
        if cand.is_file():
            return cand
    tried = ", ".join(str(p.relative_to(model)) for p in candidate_files(model, model_type, gender)[:4])
    raise ModelError(f"{model}: no {model_type} model for gender {gender!r} (looked for {tried}, ...)")


def _read_pkl(path: Path, trust_pickle: bool) -> dict:
    if not trust_pickle:
        raise ModelError(f"{path}: .pkl body models are pickles and can run code when loaded; convert it to "
                         ".npz, or pass trust_pickle=True for a file from a source you trust")
    warnings.warn(f"unpickling body model {path} (trust_pickle=True)", stacklevel=3)
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh, encoding="latin1")  # the caller trusts this file
    except ModuleNotFoundError as exc:
        raise ModelError(f"{path}: the pickle needs module {exc.name!r} (official SMPL .pkl files need "
                         "chumpy); convert the model to .npz") from None
    except (pickle.UnpicklingError, EOFError, AttributeError) as exc:
        raise ModelError(f"{path}: not a readable body model pickle ({exc})") from None
    return dict(data)


def _dense(value) -> np.ndarray:
    if hasattr(value, "toarray"):  # scipy sparse J_regressor in official pickles
        value = value.toarray()
    return np.asarray(value, dtype=np.float64)


def load_body_model(model: str | Path, model_type: str = "smplh", gender: str = "neutral",
                    trust_pickle: bool = False) -> BodyModel:
    """A model file, or a folder holding one, -> BodyModel (checked shapes, SMPL body tree)."""
    if model_type not in MODEL_TYPES:
        raise ModelError(f"unknown body model type {model_type!r}; choose from {', '.join(MODEL_TYPES)}")
    path = find_model_file(model, model_type, gender)
    if path.suffix == ".pkl":
        data = _read_pkl(path, trust_pickle)
    else:  # object arrays (pickled) are never needed for the body joints
        data = read_npz(path, ModelError, "body model", skip_pickled=True, label=str(path))
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ModelError(f"{path}: not an SMPL-family model (missing {', '.join(missing)})")
    v_template = _dense(data["v_template"])
    shapedirs = _dense(data["shapedirs"])
    j_reg = _dense(data["J_regressor"])
    parents = np.asarray(data["kintree_table"], dtype=np.int64)[0].copy()
    V = v_template.shape[0]
    if v_template.shape != (V, 3) or shapedirs.ndim != 3 or shapedirs.shape[:2] != (V, 3):
        raise ModelError(f"{path}: v_template {v_template.shape} / shapedirs {shapedirs.shape} do not fit")
    if j_reg.ndim != 2 or j_reg.shape[1] != V or j_reg.shape[0] < NUM_JOINTS:
        raise ModelError(f"{path}: J_regressor {j_reg.shape} must be (>= 22 joints, {V} vertices)")
    if tuple(parents[1:NUM_JOINTS]) != PARENTS[1:]:
        raise ModelError(f"{path}: kinematic tree of the first 22 joints is not SMPL's")
    return BodyModel(str(path), v_template, shapedirs, j_reg[:NUM_JOINTS], model_type, gender)


def body_joints(model: BodyModel, poses: np.ndarray, trans: np.ndarray | None = None,
                betas: np.ndarray | None = None) -> np.ndarray:
    """Axis-angle poses (T, >= 66: global orient + 21 body joints first), translation (T, 3) and betas
    (B,) -> (T, 22, 3) float32 joint positions in the model's world frame (metres)."""
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 2 or poses.shape[1] < 3 * NUM_JOINTS:
        raise ModelError(f"poses must be (frames, >= {3 * NUM_JOINTS}) axis-angle values, got {poses.shape}")
    T = poses.shape[0]
    trans = np.zeros((T, 3)) if trans is None else np.asarray(trans, dtype=np.float64)
    if trans.shape != (T, 3):
        raise ModelError(f"trans must be ({T}, 3), got {trans.shape}")
    b = np.zeros(model.num_betas) if betas is None else np.asarray(betas, dtype=np.float64).reshape(-1)
    b = np.pad(b, (0, max(0, model.num_betas - b.size)))[:model.num_betas]  # extra betas: no directions

    from smplx.lbs import batch_rigid_transform, batch_rodrigues, blend_shapes, vertices2joints

    dt = torch.float64
    with torch.no_grad():
        v_shaped = torch.as_tensor(model.v_template, dtype=dt)[None] + blend_shapes(
            torch.as_tensor(b, dtype=dt)[None], torch.as_tensor(model.shapedirs, dtype=dt))  # (1, V, 3)
        rest = vertices2joints(torch.as_tensor(model.j_regressor, dtype=dt), v_shaped)  # (1, 22, 3)
        rot = batch_rodrigues(torch.as_tensor(poses[:, :3 * NUM_JOINTS], dtype=dt).reshape(-1, 3))
        rot = rot.reshape(T, NUM_JOINTS, 3, 3)
        parents = torch.as_tensor(PARENTS, dtype=torch.long)
        posed, _ = batch_rigid_transform(rot, rest.expand(T, -1, -1), parents, dtype=dt)  # (T, 22, 3)
    joints = posed.numpy() + trans[:, None]
    return joints.astype(np.float32)
