"""A curve object as the path the character walks (the panel's Path field, the operator's `path`).

The curve is read as Blender evaluates it (modifiers, bevel-free centre line, its object transform:
world space), as points along its splines (a cyclic curve comes back to its first point). The points
are mapped into the generated motion's floor (metres, Y up) the way `placement.place` will map the
motion back onto the rig: the rig's own left/up/forward axes and its leg length over the generated
skeleton's, so the body's path lands on the curve whatever the rig's units and orientation. The
placement puts the motion's first pelvis over the rig's rest pelvis, so the armature object is moved
along the floor to stand at the curve's start. The curve's length and the clip's seconds set the pace.
"""

from __future__ import annotations

import bpy
import numpy as np

from .errors import RoparAddonError
from .placement import rig_axes
from .smpl22 import BONE_LENGTHS, LEG_JOINTS

# the generated skeleton's leg (thigh + shin, mean of both sides): its bones have exactly these lengths
GENERATED_LEG = float(np.mean([BONE_LENGTHS[knee] + BONE_LENGTHS[ankle]
                               for _, knee, ankle, _ in LEG_JOINTS.values()]))


def curve_object(name: str):
    obj = bpy.data.objects.get(name)
    if obj is None:
        raise RoparAddonError(f"no object named {name!r} for the path; pick a curve object")
    if obj.type != "CURVE":
        raise RoparAddonError(f"the path {name!r} is a {obj.type.lower()}, not a curve")
    return obj


def curve_points(obj, depsgraph=None) -> np.ndarray:
    """(K, 3) world-space points along the evaluated curve, in order; a cyclic spline closes the loop."""
    depsgraph = depsgraph or bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        count = len(mesh.vertices)
        co = np.empty(count * 3, dtype=np.float64)
        mesh.vertices.foreach_get("co", co)
        edges = np.empty(len(mesh.edges) * 2, dtype=np.int64)
        mesh.edges.foreach_get("vertices", edges)
    finally:
        evaluated.to_mesh_clear()
    if count < 2:
        raise RoparAddonError(f"the path {obj.name!r} has no length (an empty or one-point curve)")
    order = _walk(count, edges.reshape(-1, 2))
    world = np.array(evaluated.matrix_world, dtype=np.float64)
    return co.reshape(-1, 3)[order] @ world[:3, :3].T + world[:3, 3]


def _walk(count: int, edges: np.ndarray) -> list[int]:
    """Vertex order along the first spline's edges (from an end when it is open); a loop is closed."""
    neighbours: dict[int, list[int]] = {i: [] for i in range(count)}
    for a, b in edges:
        neighbours[int(a)].append(int(b))
        neighbours[int(b)].append(int(a))
    ends = [i for i, n in neighbours.items() if len(n) == 1]
    start = ends[0] if ends else 0
    order, prev = [start], -1
    while True:
        nxt = [n for n in neighbours[order[-1]] if n != prev]
        if not nxt or nxt[0] == start:
            if nxt:
                order.append(start)  # cyclic: back to the first point
            return order
        prev = order[-1]
        order.append(nxt[0])


def model_path(points: np.ndarray, rest, bone_map: dict[int, str]) -> list[list[float]]:
    """World points (K, 3) -> the path in the generated motion's floor coordinates [[x, z], ...]
    (metres of the generated skeleton, relative to the first point)."""
    bone_of = {j: rest.index[name] for j, name in bone_map.items()}
    heads = rest.matrices[:, :3, 3]
    axes, _ = rig_axes(heads, bone_of, rest.world)
    rig_leg = np.mean([np.linalg.norm(heads[bone_of[k]] - heads[bone_of[h]])
                       + np.linalg.norm(heads[bone_of[a]] - heads[bone_of[k]])
                       for h, k, a, _ in LEG_JOINTS.values()])
    armature = (points - rest.world[:3, 3]) @ np.linalg.inv(rest.world[:3, :3]).T
    motion = ((armature - armature[0]) / (rig_leg / GENERATED_LEG)) @ axes  # columns: left, up, forward
    return motion[:, [0, 2]].tolist()


def stand_at_start(obj, rest, bone_map: dict[int, str], points: np.ndarray) -> None:
    """Move the armature object along the world floor so that its rest pelvis stands over points[0]."""
    pelvis = rest.world[:3, :3] @ rest.matrices[rest.index[bone_map[0]], :3, 3] + rest.world[:3, 3]
    from mathutils import Matrix

    shift = points[0] - pelvis
    # through the world matrix, so that an armature under a parent (glTF's RootNode) moves in the world
    obj.matrix_world = Matrix.Translation((float(shift[0]), float(shift[1]), 0.0)) @ obj.matrix_world
    bpy.context.view_layer.update()
