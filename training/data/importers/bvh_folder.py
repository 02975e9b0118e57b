"""BVH files with captions -> `Clip` records (a whole folder: training/data/plans.py, source "bvh").

Any skeleton `ropar_core.bone_maps` recognises (SMPL names, Bandai, Mixamo, CMU) is mapped automatically; for
others pass a bone-map JSON `{smpl_joint: bvh_joint | [bvh_joint_a, bvh_joint_b, t]}` naming, for each
of the 22 SMPL joints, a BVH joint (or the point a + t (b - a) between two of them).

Subjects: a file in a sub-folder belongs to the subject named by its first folder
(`root/alice/walk_01.bvh` -> "alice"), a file at the top level is its own subject. The split is
decided by subject (`assign_split`), so one performer's takes never straddle train and test.
"""

from __future__ import annotations

import json
from pathlib import Path

from ropar_core.bone_maps import bvh_to_smpl22
from ropar_core.bvh import read_bvh
from ropar_core.errors import RoparError
from ropar_core.skeleton import JOINT_NAMES
from training.data.importers import Clip, features_from_joints

SOURCE = "bvh_folder"


def load_bone_map(path: str | Path) -> dict:
    """Read and check a bone-map JSON (every SMPL-22 joint named once)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RoparError(f"{path}: bone map not found") from None
    except json.JSONDecodeError as exc:
        raise RoparError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise RoparError(f"{path}: a bone map is a JSON object {{smpl_joint: bvh_joint}}")
    unknown = sorted(set(data) - set(JOINT_NAMES))
    missing = [j for j in JOINT_NAMES if j not in data]
    if unknown or missing:
        raise RoparError(f"{path}: bone map must name exactly the 22 SMPL joints; "
                         f"unknown {unknown}, missing {missing}")
    out: dict = {}
    for joint, spec in data.items():
        if isinstance(spec, str):
            out[joint] = spec
        elif (isinstance(spec, list) and len(spec) == 3 and all(isinstance(s, str) for s in spec[:2])
              and isinstance(spec[2], (int, float))):
            out[joint] = (spec[0], spec[1], float(spec[2]))
        else:
            raise RoparError(f"{path}: {joint}: expected a BVH joint name or [joint_a, joint_b, t], "
                             f"got {spec!r}")
    return out


def subject_of(rel_path: Path) -> str:
    return rel_path.parts[0] if len(rel_path.parts) > 1 else rel_path.with_suffix("").as_posix()


def load_bvh_clip(path: str | Path, root: str | Path, texts: list[str], bone_map: dict | str | None = None,
                  source: str = SOURCE) -> Clip:
    """One BVH file -> Clip (features at 20 fps, all parts credible)."""
    path, root = Path(path), Path(root)
    rel = path.relative_to(root)
    bvh = read_bvh(path)
    joints, fps = bvh_to_smpl22(bvh, bone_map)  # (T, 22, 3) metres, Y up
    feats, report = features_from_joints(joints, fps)  # (T20 - 1, 263)
    subject = subject_of(rel)
    return Clip(id=rel.with_suffix("").as_posix(), features=feats, texts=texts, source=source,
                subject=subject, split_key=f"{source}/{subject}",
                meta={"file": rel.as_posix(), "fps_in": fps, "frames_in": int(bvh.frames),
                      "normalise": report})
