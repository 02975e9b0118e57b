"""A curve object as the path in Blender (blender_addon/path_curve.py): the shipped model, in process,
walks a rig around a 1.5 m-radius Bezier circle placed away from the rig, in world space, with the
pace set by the curve's length and the clip's seconds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.optional import installed_or_skip

bpy = installed_or_skip("bpy", "bpy (Blender as a Python module) is not installed")

from blender_addon import jobs, path_curve, pipeline, rig  # noqa: E402
from blender_addon.errors import RoparAddonError  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.usefixtures("registered_addon")]
CENTRE = np.array([3.0, -2.0])
RADIUS = 1.5


@pytest.fixture(autouse=True)
def scene(blender_scene):
    return blender_scene


def pelvis_world(obj, bone: str, frames) -> np.ndarray:
    out = []
    for f in frames:
        bpy.context.scene.frame_set(f)
        ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        out.append(np.array(ev.matrix_world) @ np.append(np.array(ev.pose.bones[bone].head), 1.0))
    return np.array(out)[:, :3]


@pytest.mark.parametrize("layout", ["blender", "fbx", "gltf"])
def test_a_rig_walks_around_a_bezier_circle(scene, layout):
    """Any rig: Blender's own Z-up armature, an FBX one (Y up, centimetres, scale 0.01) and a glTF one
    under a rotated, scaled parent empty (tests/blender_rig_layouts.py)."""
    from blender_addon.backend import InProcessBackend
    from tests.blender_rig_layouts import build_layout

    bpy.ops.curve.primitive_bezier_circle_add(radius=RADIUS, location=(CENTRE[0], CENTRE[1], 0.0))
    circle = bpy.context.object
    circle.name = "Walkway"
    points = path_curve.curve_points(circle)
    assert np.allclose(points[0], points[-1])  # cyclic: the loop is closed
    assert np.linalg.norm(points[:, :2] - CENTRE, axis=1) == pytest.approx(RADIUS, abs=0.02)

    obj = build_layout(layout, scale=0.01 if layout != "blender" else 1.0, name="SMPL")  # ~5 m away
    backend = InProcessBackend(str(Path(__file__).resolve().parents[1] / "assets" / "default"), device="cpu")
    jobs.set_backend_override(backend)
    assert bpy.ops.ropar.generate(prompt="a person walks at a steady pace", armature="SMPL", path="Walkway",
                                  seconds=10.0, seed=3) == {"FINISHED"}
    prep = pipeline.prepare("SMPL")
    frames = range(scene.frame_start, scene.frame_start + 200, 2)
    pelvis = pelvis_world(obj, prep.bone_map.joints[0], frames)
    rel = pelvis[:, :2] - CENTRE
    radius = np.linalg.norm(rel, axis=1)
    swept = np.degrees(np.abs(np.unwrap(np.arctan2(rel[:, 1], rel[:, 0]))[-1]
                              - np.arctan2(rel[0, 1], rel[0, 0])))
    print(f"{layout}: Bezier circle swept {swept:.0f} deg, radius {radius.min():.2f}-{radius.max():.2f} m")
    assert swept >= 270
    assert np.abs(radius - RADIUS).max() <= 0.30


def test_bad_path_names_are_clear_errors(scene):
    rig.build_smpl_armature("SMPL")
    with pytest.raises(RoparAddonError, match="no object named 'Nope'"):
        pipeline.build_request(pipeline.prepare("SMPL"), prompt="walk", path="Nope")
    bpy.ops.mesh.primitive_cube_add()
    with pytest.raises(RoparAddonError, match="is a mesh, not a curve"):
        pipeline.build_request(pipeline.prepare("SMPL"), prompt="walk", path=bpy.context.object.name)
    assert math.isfinite(path_curve.GENERATED_LEG) and 0.8 < path_curve.GENERATED_LEG < 0.85


def test_a_failed_generation_leaves_the_rig_where_it_was(scene):
    from blender_addon.backend import BackendError

    class Failing:
        name = "failing"

        def generate(self, request, progress=None, cancel=None):
            assert request.path is not None and len(request.path) > 10
            raise BackendError("the server went away")

    bpy.ops.curve.primitive_bezier_circle_add(radius=RADIUS, location=(CENTRE[0], CENTRE[1], 0.0))
    curve = bpy.context.object.name
    obj = rig.build_smpl_armature("SMPL")
    with pytest.raises(BackendError, match="went away"):
        pipeline.generate(armature="SMPL", prompt="a person walks", backend=Failing(), path=curve)
    assert tuple(obj.location) == (0.0, 0.0, 0.0)


def test_the_server_backend_sends_the_path():
    """The add-on's HTTP client against a real server with the shipped model: the path goes in the
    request and the answer follows it."""
    from blender_addon.backend import GenerationRequest, HttpBackend
    from ropar_core.generator import Generator
    from ropar_core.path import tracking
    from tests.helpers.server import Running

    points = [[0.0, 0.0], [0.0, 2.0], [2.0, 2.0]]
    request = GenerationRequest("a person walks", seconds=4.0, seed=1, path=points)
    assert request.to_json()["path"] == points and "path" not in GenerationRequest("walk").to_json()
    server = Running(Generator.from_pretrained())
    try:
        motion = HttpBackend(f"http://127.0.0.1:{server.port}").generate(request)
    finally:
        server.close()
    assert len(motion.joints) == 80
    t = tracking(motion.joints, np.array(points))
    assert t["distance_max_m"] < 0.1 and t["end_error_m"] < 0.01
