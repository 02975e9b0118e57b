"""Motion files: BVH read/write, bone maps to SMPL-22, and load_motion/save_motion for .bvh .npz .npy .json.

A `Motion` holds SMPL-22 joints in metres, Y up, and optionally rotations in the convention of
`ropar_core.features` (HumanML3D's: the root's r_rot, then the swing of the bone ending at each joint).
BVH files are read with any channel layout (per-joint channel order respected; position channels of a
non-root joint replace its OFFSET, as Bandai's 6-channel files need) and mapped to SMPL-22 by joint names.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ropar_core import features as F
from ropar_core import skeleton as sk
from ropar_core.atomic import atomic_path, write_text
from ropar_core.errors import MotionFileError

FORMATS = ("bvh", "npz", "h3d263", "joints", "json")


@dataclass
class Motion:
    joints: np.ndarray  # (T, 22, 3) float32, metres, Y up
    rotations: np.ndarray | None = None  # (T, 22, 4) float32 wxyz, features.py convention
    fps: float = float(sk.FPS)
    text: str = ""
    seed: int | None = None

    def __post_init__(self):
        self.joints = F._check_joints(self.joints).astype(np.float32)
        if self.rotations is not None:
            rot = np.asarray(self.rotations, dtype=np.float64)
            if rot.shape != self.joints.shape[:2] + (4,):
                want = self.joints.shape[:2] + (4,)
                raise MotionFileError(f"rotations must have shape {want}, got {rot.shape}")
            if not np.all(np.isfinite(rot)):
                raise MotionFileError("rotations contain NaN or infinite values")
            self.rotations = F.qnormalize(rot).astype(np.float32)
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and self.fps > 0):
            raise MotionFileError(f"frame rate must be a positive number, got {self.fps!r}")
        self.fps = float(self.fps)

    @property
    def frames(self) -> int:
        return len(self.joints)


# ---------------------------------------------------------------------------------------------
# Resampling.
def resample(joints: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Linear interpolation of positions (T, ...) from src_fps to dst_fps; keeps the first frame and
    covers the same duration (the last output frame is at or before the last input frame)."""
    if not (src_fps > 0 and dst_fps > 0):
        raise MotionFileError(f"frame rates must be positive, got {src_fps} -> {dst_fps}")
    arr = np.asarray(joints)
    if abs(src_fps - dst_fps) < 1e-9:
        return arr.copy()
    lo, hi, w = _resample_index(len(arr), src_fps, dst_fps)
    w = w.reshape((-1,) + (1,) * (arr.ndim - 1))
    return (arr[lo] * (1.0 - w) + arr[hi] * w).astype(arr.dtype)


def _resample_index(n: int, src_fps: float, dst_fps: float):
    duration = (n - 1) / src_fps
    count = int(np.floor(duration * dst_fps + 1e-6)) + 1
    t = np.arange(count) * (src_fps / dst_fps)  # (count,) positions in source frames
    lo = np.clip(np.floor(t).astype(np.int64), 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    return lo, hi, t - lo


def resample_quats(quats: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Normalised linear interpolation of wxyz quaternions (T, ..., 4), hemisphere-aligned per step."""
    q = np.asarray(quats, dtype=np.float64)
    if abs(src_fps - dst_fps) < 1e-9:
        return q.astype(np.float32)
    lo, hi, w = _resample_index(len(q), src_fps, dst_fps)
    a, b = q[lo], q[hi]
    b = np.where((a * b).sum(-1, keepdims=True) < 0, -b, b)
    w = w.reshape((-1,) + (1,) * (q.ndim - 1))
    return F.qnormalize(a * (1.0 - w) + b * w).astype(np.float32)


def resample_motion(motion: Motion, fps: float) -> Motion:
    if abs(motion.fps - fps) < 1e-9:
        return motion
    joints = resample(motion.joints, motion.fps, fps)
    if len(joints) < 2:
        raise MotionFileError(f"motion is shorter than two frames at {fps:g} fps")
    rot = None if motion.rotations is None else resample_quats(motion.rotations, motion.fps, fps)
    return Motion(joints, rot, fps, motion.text, motion.seed)


# ---------------------------------------------------------------------------------------------
# BVH reading.
@dataclass
class BvhData:
    names: list[str]
    parents: np.ndarray  # (J,) int, -1 for the root
    offsets: np.ndarray  # (J, 3) file units
    channels: list[tuple[str, ...]]  # per joint, in file order
    frame_time: float
    positions: np.ndarray  # (T, J, 3) world positions, file units and axes
    rotations: np.ndarray  # (T, J, 4) local wxyz
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)  # joint index -> End Site offset
    path: str = ""

    @property
    def fps(self) -> float:
        fps = 1.0 / self.frame_time
        # "Frame Time: 0.0333333" means 30 fps, not 30.00003
        return float(round(fps)) if abs(fps - round(fps)) < 1e-4 * fps else fps

    @property
    def frames(self) -> int:
        return len(self.positions)


_POS = {"xposition": 0, "yposition": 1, "zposition": 2}
_ROT = {"xrotation": "X", "yrotation": "Y", "zrotation": "Z"}


class _Tokens:
    """Hierarchy tokens with their line numbers, for error messages that point into the file."""

    def __init__(self, name: str, items: list[tuple[str, int]]):
        self.name, self.items, self.i = name, items, 0

    def error(self, msg: str, line: int | None = None) -> MotionFileError:
        if line is None:
            line = self.items[min(self.i, len(self.items) - 1)][1] if self.items else 1
        return MotionFileError(f"{self.name}:{line}: {msg}")

    def next(self, what: str) -> tuple[str, int]:
        if self.i >= len(self.items):
            raise self.error(f"unexpected end of HIERARCHY, expected {what}")
        tok = self.items[self.i]
        self.i += 1
        return tok

    def expect(self, word: str) -> int:
        tok, line = self.next(repr(word))
        if tok.upper() != word.upper():
            raise self.error(f"expected {word!r}, found {tok!r}", line)
        return line

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            value = float(tok)
        except ValueError:
            raise self.error(f"expected a number for {what}, found {tok!r}", line) from None
        if not math.isfinite(value):
            raise self.error(f"{what} is not finite ({tok})", line)
        return value

    def peek(self) -> str:
        return self.items[self.i][0] if self.i < len(self.items) else ""


def _parse_joint(tok: _Tokens, parent: int, out: dict) -> None:
    name, _ = tok.next("a joint name")
    index = len(out["names"])
    out["names"].append(name)
    out["parents"].append(parent)
    out["offsets"].append(np.zeros(3))
    out["channels"].append(())
    tok.expect("{")
    while True:
        word, line = tok.next("OFFSET, CHANNELS, JOINT, End Site or '}'")
        key = word.upper()
        if key == "}":
            return
        if key == "OFFSET":
            out["offsets"][index] = np.array([tok.number("OFFSET") for _ in range(3)])
        elif key == "CHANNELS":
            count = tok.number("the channel count")
            if count != int(count) or count < 0:
                raise tok.error(f"bad channel count {count}", line)
            chans = tuple(tok.next("a channel name")[0] for _ in range(int(count)))
            for c in chans:
                if c.lower() not in _POS and c.lower() not in _ROT:
                    raise tok.error(f"unknown channel {c!r} in joint {name!r}", line)
            out["channels"][index] = chans
        elif key == "JOINT":
            _parse_joint(tok, index, out)
        elif key == "END":
            tok.expect("Site")
            tok.expect("{")
            tok.expect("OFFSET")
            out["end_sites"][index] = np.array([tok.number("End Site OFFSET") for _ in range(3)])
            tok.expect("}")
        else:
            raise tok.error(f"unexpected {word!r} in joint {name!r}", line)


def _split_sections(name: str, lines: list[str]) -> tuple[int, int]:
    """Index of the HIERARCHY and MOTION lines."""
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise MotionFileError(f"{name}: empty file")
    if lines[first].strip().upper() != "HIERARCHY":
        raise MotionFileError(f"{name}:{first + 1}: missing HIERARCHY (found {lines[first].strip()[:40]!r})")
    motion = next((i for i, ln in enumerate(lines) if ln.strip().upper() == "MOTION"), None)
    if motion is None:
        raise MotionFileError(f"{name}:{len(lines)}: missing MOTION section")
    return first, motion


def _header_value(name: str, lines: list[str], i: int, label: str) -> str:
    if i >= len(lines) or not lines[i].strip().lower().startswith(label.lower()):
        found = lines[i].strip()[:40] if i < len(lines) else "end of file"
        raise MotionFileError(f"{name}:{i + 1}: expected '{label}', found {found!r}")
    return lines[i].split(":", 1)[1].strip()


def _parse_motion(name: str, lines: list[str], start: int, num_channels: int) -> tuple[np.ndarray, float]:
    i = start + 1
    frames_txt = _header_value(name, lines, i, "Frames:")
    if not frames_txt.isdigit() or int(frames_txt) < 1:
        raise MotionFileError(f"{name}:{i + 1}: bad frame count {frames_txt!r}")
    frames = int(frames_txt)
    time_txt = _header_value(name, lines, i + 1, "Frame Time:")
    try:
        frame_time = float(time_txt)
    except ValueError:
        raise MotionFileError(f"{name}:{i + 2}: bad frame time {time_txt!r}") from None
    if not (math.isfinite(frame_time) and frame_time > 0):
        raise MotionFileError(f"{name}:{i + 2}: frame time must be positive, got {time_txt}")
    rows: list[list[str]] = []
    row_lines: list[int] = []
    for j in range(i + 2, len(lines)):
        parts = lines[j].split()
        if not parts:
            continue
        if len(rows) == frames:
            raise MotionFileError(f"{name}:{j + 1}: more frame lines than 'Frames: {frames}'")
        if len(parts) != num_channels:
            raise MotionFileError(f"{name}:{j + 1}: frame {len(rows)} has {len(parts)} values, "
                                  f"the hierarchy has {num_channels} channels")
        rows.append(parts)
        row_lines.append(j + 1)
    if len(rows) < frames:
        raise MotionFileError(f"{name}:{len(lines)}: truncated: 'Frames: {frames}' but only {len(rows)} "
                              "frame lines")
    try:
        data = np.array(rows, dtype=np.float64).reshape(frames, num_channels)
    except ValueError:
        for parts, ln in zip(rows, row_lines):
            try:
                [float(x) for x in parts]
            except ValueError:
                raise MotionFileError(f"{name}:{ln}: non-numeric value in a frame line") from None
        raise
    bad = ~np.isfinite(data)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise MotionFileError(f"{name}:{row_lines[r]}: value {c + 1} is {data[r, c]} (NaN or infinite)")
    return data, frame_time


def _bvh_fk(parents, offsets, channels, data) -> tuple[np.ndarray, np.ndarray]:
    """Channel data (T, C) -> world positions (T, J, 3) and local quaternions (T, J, 4) wxyz."""
    frames, num = len(data), len(parents)
    world_rot = np.zeros((frames, num, 3, 3))
    pos = np.zeros((frames, num, 3))
    local_q = np.zeros((frames, num, 4))
    col = 0
    for j in range(num):
        trans = np.broadcast_to(offsets[j], (frames, 3)).copy()
        axes, angles = "", []
        for c in channels[j]:
            key = c.lower()
            if key in _POS:
                trans[:, _POS[key]] = data[:, col]
            else:
                axes += _ROT[key]
                angles.append(data[:, col])
            col += 1
        rot = Rotation.identity(frames)
        for axis, angle in zip(axes, angles):  # intrinsic, in channel order: R = R_first @ R_second @ ...
            rot = rot * Rotation.from_euler(axis, angle[:, None], degrees=True)
        local_q[:, j] = rot.as_quat()[:, [3, 0, 1, 2]]
        local = rot.as_matrix()
        p = parents[j]
        if p < 0:
            world_rot[:, j], pos[:, j] = local, trans
        else:
            world_rot[:, j] = world_rot[:, p] @ local
            pos[:, j] = pos[:, p] + np.einsum("tij,tj->ti", world_rot[:, p], trans)
    return pos, local_q


def read_bvh(path) -> BvhData:
    """Read a BVH file of any channel layout; errors name the file and line."""
    path = Path(path)
    name = path.name
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise MotionFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = text.splitlines()
    first, motion = _split_sections(name, lines)
    items = [(t, i + 1) for i in range(first + 1, motion) for t in lines[i].replace("{", " { ")
             .replace("}", " } ").split()]
    tok = _Tokens(name, items)
    out: dict = {"names": [], "parents": [], "offsets": [], "channels": [], "end_sites": {}}
    tok.expect("ROOT")
    _parse_joint(tok, -1, out)
    if tok.peek():
        raise tok.error(f"unexpected {tok.peek()!r} after the root joint (only one ROOT is supported)")
    num_channels = sum(len(c) for c in out["channels"])
    data, frame_time = _parse_motion(name, lines, motion, num_channels)
    parents = np.array(out["parents"], dtype=np.int64)
    offsets = np.array(out["offsets"], dtype=np.float64)
    pos, rot = _bvh_fk(parents, offsets, out["channels"], data)
    return BvhData(out["names"], parents, offsets, out["channels"], frame_time, pos, rot,
                   out["end_sites"], str(path))


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
SMPL_MAP = {name: name for name in sk.JOINT_NAMES}  # our own BVH and SMPL exports (matched case-blind)
BONE_MAPS = {"smpl": SMPL_MAP, "bandai": BANDAI_MAP, "mixamo": MIXAMO_MAP, "cmu": CMU_MAP}


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


def bvh_to_smpl22(bvh: BvhData, bone_map: dict | str | None = None) -> tuple[np.ndarray, float]:
    """World positions of the mapped joints -> (T, 22, 3) float32 metres, Y up (unit and up axis guessed
    from the skeleton), and the file's frame rate."""
    if isinstance(bone_map, str):
        if bone_map not in BONE_MAPS:
            raise MotionFileError(f"unknown bone map {bone_map!r}; choose from {', '.join(BONE_MAPS)}")
        bone_map = BONE_MAPS[bone_map]
    elif bone_map is None:
        _, bone_map = detect_bone_map(bvh.names)
    index = {_norm_name(n): i for i, n in enumerate(bvh.names)}
    missing = [n for n in _map_names(bone_map) if _norm_name(n) not in index]
    if missing or set(bone_map) != set(sk.JOINT_NAMES):
        lacking = sorted(set(sk.JOINT_NAMES) - set(bone_map))
        why = [f"the BVH has no joint {', '.join(missing)}"] if missing else []
        why += [f"the map has no entry for {', '.join(lacking)}"] if lacking else []
        raise MotionFileError(f"{Path(bvh.path).name}: bone map does not fit: {'; '.join(why)}")
    joints = np.zeros((bvh.frames, sk.NUM_JOINTS, 3))
    for j, smpl_name in enumerate(sk.JOINT_NAMES):
        spec = bone_map[smpl_name]
        if isinstance(spec, str):
            joints[:, j] = bvh.positions[:, index[_norm_name(spec)]]
        else:
            a = bvh.positions[:, index[_norm_name(spec[0])]]
            b = bvh.positions[:, index[_norm_name(spec[1])]]
            joints[:, j] = a + spec[2] * (b - a)
    joints *= F.UNIT_SCALE[F.guess_unit(joints)]
    rot, _ = F.up_axis_rotation(joints)
    return (joints @ rot.T).astype(np.float32), bvh.fps


# ---------------------------------------------------------------------------------------------
# BVH writing (SMPL-22 skeleton).
_MULTI_CHILD = {0: (1, 2, 3), 9: (13, 14, 12)}  # joint -> (left child, right child, up child)
_END_SITES = {10: (0, 0, 0.06), 11: (0, 0, 0.06), 15: (0, 0.1, 0), 20: (0, -0.08, 0), 21: (0, -0.08, 0)}


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {j: [] for j in range(sk.NUM_JOINTS)}
    for c, p in enumerate(sk.PARENTS):
        if p >= 0:
            kids[p].append(c)
    return kids


def _depth_first(kids: dict[int, list[int]], j: int = 0) -> list[int]:
    order = [j]
    for c in kids[j]:
        order += _depth_first(kids, c)
    return order


def _frame_from(left: np.ndarray, right: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(T, 3) bone directions -> (T, 3, 3) rotation whose X points from the right child to the left one
    and whose Y is the up child's direction made orthogonal to X."""
    x = left - right
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    y = up - (up * x).sum(-1, keepdims=True) * x
    y = y / np.linalg.norm(y, axis=-1, keepdims=True)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def bvh_pose(joints: np.ndarray, rotations: np.ndarray | None = None, lengths: np.ndarray | None = None):
    """SMPL-22 pose in standard per-joint BVH form.

    Every joint with one child takes the world swing of that child's bone (features' rotations, or IK of
    the joints when rotations is None); the pelvis and spine3, which have three children, take a frame
    built from their children's bones, and their children's rest offsets are the mean shape in that
    frame (exact for rigid data such as SMPL-derived or mocap joints).
    Returns (offsets (22, 3) rest, global rotation matrices (T, 22, 3, 3))."""
    joints = np.asarray(joints, dtype=np.float64)
    if rotations is None:
        rotations = F.joints_to_rotations(joints)
    world = F.world_bone_rotations(rotations)  # (T, 22, 4), bone ending at j
    if lengths is None:
        lengths = np.median(F._bone_lengths(joints), axis=0)
    dirs = F.qrot(world, np.broadcast_to(sk.RAW_OFFSETS, world.shape[:2] + (3,)))  # (T, 22, 3) unit
    offsets = sk.RAW_OFFSETS * lengths[:, None]
    glob = np.zeros(world.shape[:2] + (3, 3))
    kids = _children()
    for j in range(sk.NUM_JOINTS):
        if j in _MULTI_CHILD:
            left, right, up = _MULTI_CHILD[j]
            glob[:, j] = _frame_from(dirs[:, left], dirs[:, right], dirs[:, up])
            for c in (left, right, up):
                local = np.einsum("tji,tj->ti", glob[:, j], dirs[:, c])  # R^T d
                mean = local.mean(0)
                offsets[c] = mean / np.linalg.norm(mean) * lengths[c]
        elif kids[j]:
            glob[:, j] = F.quat_to_matrix(world[:, kids[j][0]])
        else:
            glob[:, j] = glob[:, sk.PARENTS[j]]
    return offsets, glob


def write_bvh(path, joints, rotations=None, fps: float = sk.FPS, order: str = "ZXY",
              lengths: np.ndarray | None = None, unit: str = "m") -> None:
    """Write an SMPL-22 BVH (joint names = skeleton.JOINT_NAMES, Y up, root position + 3 rotation channels
    per joint in `order`, Blender-importable). `rotations` are features.py-convention quaternions (None:
    swing-only IK of the joints, as HumanML3D); the root path comes from joints[:, 0]. `lengths` (22,)
    bone lengths, default the motion's own (median over frames); skeleton.BONE_LENGTHS gives the standard
    skeleton. `unit` "m" or "cm"."""
    motion = Motion(joints, rotations, fps)
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise MotionFileError(f"rotation order must be a permutation of XYZ, got {order!r}")
    if unit not in ("m", "cm"):
        raise MotionFileError(f"unit must be 'm' or 'cm', got {unit!r}")
    scale = 100.0 if unit == "cm" else 1.0
    offsets, glob = bvh_pose(motion.joints, motion.rotations, lengths)
    frames = len(glob)
    kids = _children()
    columns = [motion.joints[:, 0].astype(np.float64) * scale]
    for j in _depth_first(kids):  # channel columns follow the hierarchy's order
        p = sk.PARENTS[j]
        local = glob[:, j] if p < 0 else np.einsum("tji,tjk->tik", glob[:, p], glob[:, j])
        euler = Rotation.from_matrix(local).as_euler(order, degrees=True)
        columns.append(np.unwrap(euler, period=360.0, axis=0))  # no 360-degree jumps between frames
    data = np.concatenate(columns, axis=1)

    rot_channels = " ".join(f"{a}rotation" for a in order)
    out = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "\t" * depth
        head = "ROOT" if j == 0 else "JOINT"
        off = np.zeros(3) if j == 0 else offsets[j] * scale
        out.append(f"{pad}{head} {sk.JOINT_NAMES[j]}")
        out.append(f"{pad}{{")
        out.append(f"{pad}\tOFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        if j == 0:
            out.append(f"{pad}\tCHANNELS 6 Xposition Yposition Zposition {rot_channels}")
        else:
            out.append(f"{pad}\tCHANNELS 3 {rot_channels}")
        for c in kids[j]:
            emit(c, depth + 1)
        if not kids[j]:
            end = np.array(_END_SITES[j]) * scale
            out.extend([f"{pad}\tEnd Site", f"{pad}\t{{",
                        f"{pad}\t\tOFFSET {end[0]:.6f} {end[1]:.6f} {end[2]:.6f}", f"{pad}\t}}"])
        out.append(f"{pad}}}")

    emit(0, 0)
    out += ["MOTION", f"Frames: {frames}", f"Frame Time: {1.0 / motion.fps:.8f}"]
    out += [" ".join(f"{v:.6f}" for v in row) for row in data]
    write_text(path, "\n".join(out) + "\n")


# ---------------------------------------------------------------------------------------------
# load_motion / save_motion.
_SUFFIX_FORMAT = {".bvh": "bvh", ".npz": "npz", ".json": "json", ".npy": "npy"}


def _format_for(path: Path, fmt: str | None, writing: bool) -> str:
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
    except (TypeError, ValueError):
        raise MotionFileError(f"{name}: '{what}' is not a rectangular array of numbers") from None
    return arr


def _load_npy(path: Path, fmt: str) -> Motion:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise MotionFileError(f"{path.name}: not a readable .npy array ({exc})") from None
    if fmt == "npy":
        fmt = "h3d263" if arr.ndim == 2 and arr.shape[-1] == sk.FEATURE_DIM else "joints"
    try:
        if fmt == "h3d263":
            return Motion(F.features_to_joints(arr), F.features_to_rotations(arr), float(sk.FPS))
        return Motion(arr, None, float(sk.FPS))
    except MotionFileError as exc:
        raise MotionFileError(f"{path.name}: {exc}") from None


def _load_npz(path: Path) -> Motion:
    try:
        with np.load(path, allow_pickle=False) as data:
            if "joints" not in data.files:
                raise MotionFileError(f"{path.name}: no 'joints' array (keys: {', '.join(data.files)})")
            joints = data["joints"]
            rot = data["rotations"] if "rotations" in data.files else None
            fps = float(data["fps"]) if "fps" in data.files else float(sk.FPS)
            text = str(data["text"]) if "text" in data.files else ""
            seed = int(data["seed"]) if "seed" in data.files else None
    except (ValueError, OSError, TypeError) as exc:
        raise MotionFileError(f"{path.name}: not a readable .npz motion ({exc})") from None
    try:
        return Motion(joints, rot, fps, text, seed)
    except MotionFileError as exc:
        raise MotionFileError(f"{path.name}: {exc}") from None


def _load_json(path: Path) -> Motion:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MotionFileError(f"{path.name}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or "joints" not in data:
        raise MotionFileError(f"{path.name}: expected an object with 'joints' (and 'fps', 'rotations', "
                              "'text')")
    joints = _array_from_json(path.name, data["joints"], "joints")
    rot = data.get("rotations")
    rot = None if rot is None else _array_from_json(path.name, rot, "rotations")
    fps = data.get("fps", sk.FPS)
    seed = data.get("seed")
    try:
        return Motion(joints, rot, fps, str(data.get("text", "")), None if seed is None else int(seed))
    except (MotionFileError, TypeError, ValueError) as exc:
        raise MotionFileError(f"{path.name}: {exc}") from None


def load_motion(path, fmt: str | None = None, fps: float | None = sk.FPS, bone_map=None) -> Motion:
    """Read a motion (.bvh .npz .npy .json; `fmt` overrides the suffix: bvh, npz, h3d263, joints, json) as
    SMPL-22 joints in metres, Y up, resampled to `fps` (None keeps the file's rate)."""
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"no such motion file: {path}")
    fmt = _format_for(path, fmt, writing=False)
    if fmt == "bvh":
        bvh = read_bvh(path)
        joints, src_fps = bvh_to_smpl22(bvh, bone_map)
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
