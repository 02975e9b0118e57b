"""Bone maps: which BVH joint (or point between two joints) is each SMPL-22 joint, and the mapping of a
read BVH onto SMPL-22 joints in metres, Y up."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ropar_core import features as F
from ropar_core import skeleton as sk
from ropar_core.bvh import BvhData, end_site_positions
from ropar_core.errors import MotionFileError

# ---------------------------------------------------------------------------------------------
# Bone maps: SMPL-22 joint -> a BVH joint name, or (name_a, name_b, t) = the point a + t (b - a).
BANDAI_MAP = {
    "pelvis": "Hips", "l_hip": "UpperLeg_L", "r_hip": "UpperLeg_R", "spine1": "Spine",
    "l_knee": "LowerLeg_L", "r_knee": "LowerLeg_R", "spine2": ("Spine", "Chest", 0.5),
    "l_ankle": "Foot_L", "r_ankle": "Foot_R", "spine3": "Chest", "l_foot": "Toes_L", "r_foot": "Toes_R",
    "neck": "Neck", "l_collar": "Shoulder_L", "r_collar": "Shoulder_R", "head": "Head",
    "l_shoulder": "UpperArm_L", "r_shoulder": "UpperArm_R", "l_elbow": "LowerArm_L", "r_elbow": "LowerArm_R",
    "l_wrist": "Hand_L", "r_wrist": "Hand_R",
}
_CMU_LIMBS = {
    "pelvis": "Hips", "l_hip": "LeftUpLeg", "r_hip": "RightUpLeg", "l_knee": "LeftLeg", "r_knee": "RightLeg",
    "l_ankle": "LeftFoot", "r_ankle": "RightFoot", "l_foot": "LeftToeBase", "r_foot": "RightToeBase",
    "neck": "Neck", "head": "Head", "l_collar": "LeftShoulder", "r_collar": "RightShoulder",
    "l_shoulder": "LeftArm", "r_shoulder": "RightArm", "l_elbow": "LeftForeArm", "r_elbow": "RightForeArm",
    "l_wrist": "LeftHand", "r_wrist": "RightHand",
}
# Mixamo-like: three spine joints.
MIXAMO_MAP = {**_CMU_LIMBS, "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2"}
# CMU-like: Spine and Spine1 only; spine2 halfway between them.
CMU_MAP = {**_CMU_LIMBS, "spine1": "Spine", "spine2": ("Spine", "Spine1", 0.5), "spine3": "Spine1"}
# Reallusion CC_Base (CMU database on iClone): Hip and Pelvis coincide; the three SMPL spine joints from
# Spine01, Spine02 and a point a quarter up the Spine02 -> neck bone.
CC_BASE_MAP = {
    "pelvis": "CC_Base_Pelvis", "l_hip": "CC_Base_L_Thigh", "r_hip": "CC_Base_R_Thigh",
    "spine1": "CC_Base_Spine01", "l_knee": "CC_Base_L_Calf", "r_knee": "CC_Base_R_Calf",
    "spine2": "CC_Base_Spine02", "l_ankle": "CC_Base_L_Foot", "r_ankle": "CC_Base_R_Foot",
    "spine3": ("CC_Base_Spine02", "CC_Base_NeckTwist01", 0.25), "l_foot": "CC_Base_L_ToeBase",
    "r_foot": "CC_Base_R_ToeBase", "neck": "CC_Base_NeckTwist01", "l_collar": "CC_Base_L_Clavicle",
    "r_collar": "CC_Base_R_Clavicle", "head": "CC_Base_Head", "l_shoulder": "CC_Base_L_Upperarm",
    "r_shoulder": "CC_Base_R_Upperarm", "l_elbow": "CC_Base_L_Forearm", "r_elbow": "CC_Base_R_Forearm",
    "l_wrist": "CC_Base_L_Hand", "r_wrist": "CC_Base_R_Hand",
}
# "<joint>_end" names a joint's End Site (bvh.end_site_positions), for rigs without hands or toes.
END = "_end"
# Daz/Poser names (CMU's dance BVH: hip, abdomen, chest; feet without toes: the toe is the foot's end).
DAZ_MAP = {
    "pelvis": "hip", "l_hip": "lThigh", "r_hip": "rThigh", "spine1": ("hip", "abdomen", 0.5),
    "l_knee": "lShin", "r_knee": "rShin", "spine2": "abdomen", "l_ankle": "lFoot", "r_ankle": "rFoot",
    "spine3": "chest", "l_foot": "lFoot" + END, "r_foot": "rFoot" + END, "neck": "neck",
    "l_collar": "lCollar", "r_collar": "rCollar", "head": "head", "l_shoulder": "lShldr",
    "r_shoulder": "rShldr", "l_elbow": "lForeArm", "r_elbow": "rForeArm", "l_wrist": "lHand",
    "r_wrist": "rHand",
}
# Blender's basic metarig names without hand or toe bones (ReActIdle): the wrist is the forearm's end,
# the toe the foot's; spine and pelvis coincide, so spine1 sits partway up to spine.001.
METARIG_MAP = {
    "pelvis": "pelvis", "l_hip": "thigh.L", "r_hip": "thigh.R", "spine1": ("spine", "spine.001", 0.45),
    "l_knee": "shin.L", "r_knee": "shin.R", "spine2": "spine.001", "l_ankle": "foot.L", "r_ankle": "foot.R",
    "spine3": ("spine.001", "neck", 0.25), "l_foot": "foot.L" + END, "r_foot": "foot.R" + END, "neck": "neck",
    "l_collar": ("shoulder.L", "upper_arm.L", 0.35), "r_collar": ("shoulder.R", "upper_arm.R", 0.35),
    "head": "face", "l_shoulder": "upper_arm.L", "r_shoulder": "upper_arm.R", "l_elbow": "forearm.L",
    "r_elbow": "forearm.R", "l_wrist": "forearm.L" + END, "r_wrist": "forearm.R" + END,
}
SMPL_MAP = {name: name for name in sk.JOINT_NAMES}  # our own BVH and SMPL exports (matched case-blind)
BONE_MAPS = {"smpl": SMPL_MAP, "bandai": BANDAI_MAP, "mixamo": MIXAMO_MAP, "cmu": CMU_MAP,
             "cc_base": CC_BASE_MAP, "daz": DAZ_MAP, "metarig": METARIG_MAP}


def _norm_name(name: str) -> str:
    """Case-blind, without namespaces ('mixamorig:Hips') and SMPL model prefixes ('m_avg_L_Hip')."""
    base = name.rsplit(":", 1)[-1].lower()
    for prefix in ("m_avg_", "f_avg_", "smpl_"):
        if base.startswith(prefix):
            base = base[len(prefix):]
    return base


def _map_names(bone_map: dict) -> list[str]:
    names = []
    for spec in bone_map.values():
        names += [spec] if isinstance(spec, str) else [spec[0], spec[1]]
    return names


def detect_bone_map(names: list[str]) -> tuple[str, dict]:
    """Pick the bone map whose names all occur in the BVH; error naming the missing bones otherwise."""
    present = {_norm_name(n) for n in names}
    best, best_missing = None, None
    for key, bone_map in BONE_MAPS.items():
        missing = sorted({n for n in _map_names(bone_map) if _norm_name(n) not in present})
        if not missing:
            return key, bone_map
        if best_missing is None or len(missing) < len(best_missing):
            best, best_missing = key, missing
    raise MotionFileError(f"unknown skeleton: closest bone map is {best!r}, missing bones "
                          f"{', '.join(best_missing)}; pass a bone map naming the BVH joints for each of "
                          f"{', '.join(sk.JOINT_NAMES)}")


def bvh_to_smpl22(bvh: BvhData, bone_map: dict | str | None = None,
                  scale: float | None = None) -> tuple[np.ndarray, float]:
    """World positions of the mapped joints -> (T, 22, 3) float32 metres, Y up, and the file's frame rate.
    The up axis is guessed from the skeleton, the unit too (m, cm, mm, inches, else the skeleton's own
    height: features.unit_scale) unless `scale` gives the metres per file unit."""
    if isinstance(bone_map, str):
        if bone_map not in BONE_MAPS:
            raise MotionFileError(f"unknown bone map {bone_map!r}; choose from {', '.join(BONE_MAPS)}")
        bone_map = BONE_MAPS[bone_map]
    elif bone_map is None:
        _, bone_map = detect_bone_map(bvh.names + [bvh.names[j] + END for j in bvh.end_sites])
    names, positions = bvh.names, bvh.positions
    if any(n.endswith(END) for n in _map_names(bone_map)):
        ends = end_site_positions(bvh)
        names = names + [n + END for n in ends]
        positions = np.concatenate([positions, np.stack(list(ends.values()), axis=1)], axis=1)
    return positions_to_smpl22(names, positions, bone_map, scale, Path(bvh.path).name), bvh.fps


def positions_to_smpl22(names: list[str], positions: np.ndarray, bone_map: dict, scale: float | None = None,
                        label: str = "motion") -> np.ndarray:
    """World positions (T, J, 3) of joints called `names` -> (T, 22, 3) float32 SMPL-22 joints in metres,
    Y up, through `bone_map` (used by bvh_to_smpl22 and by asf_amc for CMU's own format)."""
    index: dict[str, int] = {}
    wanted = {_norm_name(n) for n in _map_names(bone_map)}
    for i, n in enumerate(names):
        key = _norm_name(n)
        if key in index and key in wanted:  # 'LeftLeg' and 'mixamorig:LeftLeg': which one is meant?
            raise MotionFileError(f"joints {names[index[key]]!r} and {n!r} both match the bone "
                                  f"{key!r}; rename one of them")
        index[key] = i
    missing = [n for n in _map_names(bone_map) if _norm_name(n) not in index]
    if missing or set(bone_map) != set(sk.JOINT_NAMES):
        lacking = sorted(set(sk.JOINT_NAMES) - set(bone_map))
        why = [f"the BVH has no joint {', '.join(missing)}"] if missing else []
        why += [f"the map has no entry for {', '.join(lacking)}"] if lacking else []
        raise MotionFileError(f"{label}: bone map does not fit: {'; '.join(why)}")
    joints = np.zeros((len(positions), sk.NUM_JOINTS, 3))
    for j, smpl_name in enumerate(sk.JOINT_NAMES):
        spec = bone_map[smpl_name]
        if isinstance(spec, str):
            joints[:, j] = positions[:, index[_norm_name(spec)]]
        else:
            a = positions[:, index[_norm_name(spec[0])]]
            b = positions[:, index[_norm_name(spec[1])]]
            joints[:, j] = a + spec[2] * (b - a)
    joints *= F.unit_scale(joints, scale)[0]
    rot, _ = F.up_axis_rotation(joints)
    return (joints @ rot.T).astype(np.float32)
