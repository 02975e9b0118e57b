"""BVH files: reading any channel layout into world positions and local rotations, and writing the
SMPL-22 skeleton (Blender-importable).

Reading respects each joint's channel order; position channels of a non-root joint replace its OFFSET,
as Bandai's 6-channel files need. `bone_maps.bvh_to_smpl22` maps what was read onto SMPL-22.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ropar_core import features as F
from ropar_core import limits
from ropar_core import skeleton as sk
from ropar_core.atomic import write_text
from ropar_core.errors import MotionFileError
from ropar_core.motion import Motion
from ropar_core.quaternion import matrix_to_euler, qmul, qrot, quat_to_matrix


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


MAX_BVH_BYTES = 256 * 2**20  # a 10-minute, 120 fps CMU file is about 50 MB
MAX_JOINTS = 1024  # CC_Base rigs have about 100 joints with fingers, toes and twist bones
MAX_FRAME_JOINTS = 4_000_000  # frames x joints: 11 min of a 100-joint rig at 60 fps; FK stays < 1 GB
_FK_CHUNK = 1_000_000  # frame-joints of world rotation matrices held at once
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


def _parse_hierarchy(tok: _Tokens, out: dict) -> None:
    """ROOT ... } into out's per-joint lists. Iterative with an explicit stack, so a file nested
    thousands deep is an error line, not a RecursionError."""
    tok.expect("ROOT")
    stack = [_open_joint(tok, -1, out)]
    while stack:
        index = stack[-1]
        word, line = tok.next("OFFSET, CHANNELS, JOINT, End Site or '}'")
        key = word.upper()
        if key == "}":
            stack.pop()
        elif key == "OFFSET":
            out["offsets"][index] = np.array([tok.number("OFFSET") for _ in range(3)])
        elif key == "CHANNELS":
            out["channels"][index] = _channels(tok, line, out["names"][index])
        elif key == "JOINT":
            if len(out["names"]) >= MAX_JOINTS:
                raise tok.error(f"more than {MAX_JOINTS} joints", line)
            stack.append(_open_joint(tok, index, out))
        elif key == "END":
            tok.expect("Site")
            tok.expect("{")
            tok.expect("OFFSET")
            out["end_sites"][index] = np.array([tok.number("End Site OFFSET") for _ in range(3)])
            tok.expect("}")
        else:
            raise tok.error(f"unexpected {word!r} in joint {out['names'][index]!r}", line)


def _open_joint(tok: _Tokens, parent: int, out: dict) -> int:
    name, line = tok.next("a joint name")
    if name in out["names"]:  # every reader maps joints by name: the second would silently win
        raise tok.error(f"joint name {name!r} appears twice; joint names must be unique", line)
    out["names"].append(name)
    out["parents"].append(parent)
    out["offsets"].append(np.zeros(3))
    out["channels"].append(())
    tok.expect("{")
    return len(out["names"]) - 1


def _channels(tok: _Tokens, line: int, joint: str) -> tuple[str, ...]:
    count = tok.number("the channel count")
    if count != int(count) or not 0 <= count <= 12:  # 6 in practice; extra rotations are allowed
        raise tok.error(f"bad channel count {count:g} (a joint has 0 to 12 channels)", line)
    chans = tuple(tok.next("a channel name")[0] for _ in range(int(count)))
    for c in chans:
        if c.lower() not in _POS and c.lower() not in _ROT:
            raise tok.error(f"unknown channel {c!r} in joint {joint!r}", line)
    return chans


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


def _frame_time(name: str, lines: list[str], i: int) -> float:
    time_txt = _header_value(name, lines, i, "Frame Time:")
    try:
        frame_time = float(time_txt)
    except ValueError:
        raise MotionFileError(f"{name}:{i + 1}: bad frame time {time_txt!r}") from None
    if not (math.isfinite(frame_time) and frame_time > 0):
        raise MotionFileError(f"{name}:{i + 1}: frame time must be positive, got {time_txt}")
    limits.check_fps(1.0 / frame_time, f"{name}:{i + 1}: frame rate (1 / Frame Time {time_txt})",
                     error=MotionFileError)
    return frame_time


def _parse_motion(name: str, lines: list[str], start: int, num_channels: int, num_joints: int
                  ) -> tuple[np.ndarray, float]:
    i = start + 1
    frames_txt = _header_value(name, lines, i, "Frames:")
    if not frames_txt.isdigit() or int(frames_txt) < 1:
        raise MotionFileError(f"{name}:{i + 1}: bad frame count {frames_txt[:20]!r}")
    frames = int(frames_txt)
    frame_time = _frame_time(name, lines, i + 1)
    rows = [j for j in range(i + 2, len(lines)) if lines[j].strip()]
    if len(rows) > frames:
        raise MotionFileError(f"{name}:{rows[frames] + 1}: more frame lines than 'Frames: {frames}'")
    if len(rows) < frames:
        raise MotionFileError(f"{name}:{len(lines)}: truncated: 'Frames: {frames}' but only {len(rows)} "
                              "frame lines")
    limits.check_frames(frames, name, error=MotionFileError)
    if frames * num_joints > MAX_FRAME_JOINTS:  # world positions and rotations are (frames, joints, ...)
        raise MotionFileError(f"{name}: {frames} frames x {num_joints} joints is too large "
                              f"(at most {MAX_FRAME_JOINTS} frame-joints)")
    data = np.empty((frames, num_channels))
    for r, j in enumerate(rows):  # row by row: memory stays at the array, not millions of strings
        parts = lines[j].split()
        if len(parts) != num_channels:
            raise MotionFileError(f"{name}:{j + 1}: frame {r} has {len(parts)} values, "
                                  f"the hierarchy has {num_channels} channels")
        try:
            data[r] = np.asarray(parts, dtype=np.float64)
        except ValueError:
            raise MotionFileError(f"{name}:{j + 1}: non-numeric value in a frame line") from None
    bad = ~np.isfinite(data) | (np.abs(data) > limits.MAX_ABS_VALUE)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise MotionFileError(f"{name}:{rows[r] + 1}: value {c + 1} is {data[r, c]:g} (NaN, infinite or "
                              f"beyond +-{limits.MAX_ABS_VALUE:g})")
    return data, frame_time


def _bvh_fk(parents, offsets, channels, data) -> tuple[np.ndarray, np.ndarray]:
    """Channel data (T, C) -> world positions (T, J, 3) and local quaternions (T, J, 4) wxyz, in chunks of
    frames so that the (frames, J, 3, 3) world rotations never all exist at once."""
    frames, num = len(data), len(parents)
    pos = np.zeros((frames, num, 3))
    local_q = np.zeros((frames, num, 4))
    step = max(1, _FK_CHUNK // max(num, 1))
    for a in range(0, frames, step):
        pos[a:a + step], local_q[a:a + step] = _fk_chunk(parents, offsets, channels, data[a:a + step])
    return pos, local_q


def _fk_chunk(parents, offsets, channels, data) -> tuple[np.ndarray, np.ndarray]:
    from scipy.spatial.transform import Rotation  # here: writing a BVH (every generate) never needs it

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
    text = limits.read_bytes(path, MAX_BVH_BYTES, "BVH file").decode("utf-8", errors="replace")
    lines = text.splitlines()
    first, motion = _split_sections(name, lines)
    items = [(t, i + 1) for i in range(first + 1, motion) for t in lines[i].replace("{", " { ")
             .replace("}", " } ").split()]
    tok = _Tokens(name, items)
    out: dict = {"names": [], "parents": [], "offsets": [], "channels": [], "end_sites": {}}
    _parse_hierarchy(tok, out)
    if tok.peek():
        raise tok.error(f"unexpected {tok.peek()!r} after the root joint (only one ROOT is supported)")
    num_channels = sum(len(c) for c in out["channels"])
    data, frame_time = _parse_motion(name, lines, motion, num_channels, len(out["names"]))
    parents = np.array(out["parents"], dtype=np.int64)
    offsets = np.array(out["offsets"], dtype=np.float64)
    if np.abs(offsets).max() > limits.MAX_ABS_VALUE:
        raise MotionFileError(f"{name}: an OFFSET is beyond +-{limits.MAX_ABS_VALUE:g}")
    pos, rot = _bvh_fk(parents, offsets, out["channels"], data)
    return BvhData(out["names"], parents, offsets, out["channels"], frame_time, pos, rot,
                   out["end_sites"], str(path))


def end_site_positions(bvh: BvhData) -> dict[str, np.ndarray]:
    """World positions (T, 3) of each joint's End Site, keyed by the joint's name: where rigs without
    hands or toes keep the wrist or toe (ReActIdle's forearm ends, the Daz rig's foot ends)."""
    world = {}
    for j, parent in enumerate(bvh.parents):  # parents come first
        local = bvh.rotations[:, j]
        world[j] = local if parent < 0 else qmul(world[int(parent)], local)
    return {bvh.names[j]: bvh.positions[:, j] + qrot(world[j], np.broadcast_to(offset, (bvh.frames, 3)))
            for j, offset in bvh.end_sites.items()}


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
    dirs = qrot(world, np.broadcast_to(sk.RAW_OFFSETS, world.shape[:2] + (3,)))  # (T, 22, 3) unit
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
            glob[:, j] = quat_to_matrix(world[:, kids[j][0]])
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
    if lengths is None:
        bones = np.median(F._bone_lengths(motion.joints.astype(np.float64)), axis=0)[1:]
        if not (bones > 1e-6).all():  # a bone without a direction has no rotation to write
            name = sk.JOINT_NAMES[1 + int(np.argmin(bones))]
            raise MotionFileError(f"cannot write a BVH: the bone to {name} has zero length "
                                  "(joints that coincide)")
    offsets, glob = bvh_pose(motion.joints, motion.rotations, lengths)
    frames = len(glob)
    kids = _children()
    columns = [motion.joints[:, 0].astype(np.float64) * scale]
    for j in _depth_first(kids):  # channel columns follow the hierarchy's order
        p = sk.PARENTS[j]
        local = glob[:, j] if p < 0 else np.einsum("tji,tjk->tik", glob[:, p], glob[:, j])
        euler = matrix_to_euler(local, order)
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
