"""Motion files for the reader/writer tests: the shipped Bandai sample, a CMU-style BVH built by hand
(mixed channel orders) with its forward kinematics, and the shared HumanML3D sample's location."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "data"


BANDAI = DATA / "bandai_wave-left-hand_active_011.bvh"


SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "humanml3d-sample"


CMU_SKELETON = [
    ("Hips", None, (0, 0, 0), "ZYX"),
    ("LeftUpLeg", "Hips", (9, -6, 0), "ZXY"),
    ("LeftLeg", "LeftUpLeg", (0, -42, 0), "XYZ"),
    ("LeftFoot", "LeftLeg", (0, -41, 0), "YXZ"),
    ("LeftToeBase", "LeftFoot", (0, -4, 12), "ZXY"),
    ("RightUpLeg", "Hips", (-9, -6, 0), "ZXY"),
    ("RightLeg", "RightUpLeg", (0, -42, 0), "XZY"),
    ("RightFoot", "RightLeg", (0, -41, 0), "ZXY"),
    ("RightToeBase", "RightFoot", (0, -4, 12), "ZYX"),
    ("Spine", "Hips", (0, 11, -1), "ZXY"),
    ("Spine1", "Spine", (0, 25, 0), "XYZ"),
    ("Neck", "Spine1", (0, 20, 0), "ZXY"),
    ("Head", "Neck", (0, 10, 2), "ZXY"),
    ("LeftShoulder", "Spine1", (4, 16, 0), "ZXY"),
    ("LeftArm", "LeftShoulder", (13, 0, 0), "YZX"),
    ("LeftForeArm", "LeftArm", (27, 0, 0), "ZXY"),
    ("LeftHand", "LeftForeArm", (25, 0, 0), "ZXY"),
    ("RightShoulder", "Spine1", (-4, 16, 0), "ZXY"),
    ("RightArm", "RightShoulder", (-13, 0, 0), "ZXY"),
    ("RightForeArm", "RightArm", (-27, 0, 0), "XYZ"),
    ("RightHand", "RightForeArm", (-25, 0, 0), "ZXY"),
]


def axis_matrix(axis: str, deg: np.ndarray) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    one, zero = np.ones_like(a), np.zeros_like(a)
    rows = {
        "X": [[one, zero, zero], [zero, c, -s], [zero, s, c]],
        "Y": [[c, zero, s], [zero, one, zero], [-s, zero, c]],
        "Z": [[c, -s, zero], [s, c, zero], [zero, zero, one]],
    }[axis]
    return np.moveaxis(np.array(rows), (0, 1), (-2, -1))


def make_cmu_motion(frames: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Root positions (T, 3) cm walking along +Z, and per-joint angles (T, J, 3) degrees, channel order."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 30.0
    root = np.stack([2 * np.sin(t), 95 + 2 * np.sin(4 * t), 100 * t], axis=-1)
    angles = 12 * np.sin(3 * t[:, None, None] + rng.uniform(0, 6, (1, len(CMU_SKELETON), 3)))
    angles[:, 0] = [5, 20, -3] * np.sin(t[:, None])  # the root sways and yaws a little
    return root, angles


def cmu_fk(root: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Independent FK of the CMU skeleton: (T, J, 3) world positions in cm."""
    names = [j[0] for j in CMU_SKELETON]
    world_r, pos = {}, {}
    for j, (name, parent, offset, order) in enumerate(CMU_SKELETON):
        local = np.eye(3)[None].repeat(len(root), 0)
        for k, axis in enumerate(order):
            local = local @ axis_matrix(axis, angles[:, j, k])
        if parent is None:
            world_r[name], pos[name] = local, root.astype(np.float64)
        else:
            world_r[name] = world_r[parent] @ local
            pos[name] = pos[parent] + world_r[parent] @ np.array(offset, dtype=np.float64)
    return np.stack([pos[n] for n in names], axis=1)


def write_cmu_bvh(path: Path, root: np.ndarray, angles: np.ndarray, fps: float = 30.0) -> Path:
    children: dict = {}
    for name, parent, _, _ in CMU_SKELETON:
        children.setdefault(parent, []).append(name)
    info = {n: (off, order) for n, _, off, order in CMU_SKELETON}
    index = {j[0]: i for i, j in enumerate(CMU_SKELETON)}
    lines, column_order = ["HIERARCHY"], []

    def emit(name: str, depth: int) -> None:
        pad = "  " * depth
        off, order = info[name]
        lines.append(f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {off[0]} {off[1]} {off[2]}")
        rot = " ".join(f"{a}rotation" for a in order)
        lines.append(f"{pad}  CHANNELS {6 if depth == 0 else 3} "
                     + ("Xposition Yposition Zposition " if depth == 0 else "") + rot)
        column_order.append(name)
        for child in children.get(name, []):
            emit(child, depth + 1)
        if name not in children:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0 5 0", pad + "  }"])
        lines.append(pad + "}")

    emit("Hips", 0)
    lines += ["MOTION", f"Frames: {len(root)}", f"Frame Time: {1 / fps:.7f}"]
    for t in range(len(root)):
        vals = list(root[t])
        for name in column_order:
            vals += list(angles[t, index[name]])
        lines.append(" ".join(f"{v:.6f}" for v in vals))
    path.write_text("\n".join(lines) + "\n")
    return path
