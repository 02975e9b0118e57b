"""Shipping and headless use: the installable zip (validated by Blender's own extension checker and
installed in Blender 5.0 and 3.4), and the batch script under a real `blender -b` turning a prompt file
into FBX files that import back with animation."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from blender_addon import build
from tests.helpers.optional import installed_or_skip

ROOT = Path(__file__).resolve().parents[1]
BATCH = ROOT / "blender_addon" / "batch.py"
BLENDER = shutil.which("blender")
needs_blender = pytest.mark.skipif(BLENDER is None,
                                   reason="no `blender` binary on PATH (CI installs Debian's 3.4)")
pytestmark = pytest.mark.blender


def run_blender(*args, env=None, timeout=120):
    return subprocess.run([BLENDER, "-b", "--factory-startup", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=ROOT)


def run_script_in_user_folders(script, tmp_path, timeout=120) -> str:
    """Blender runs `script` with its user scripts and config in tmp_path (an installed add-on and its
    preferences live there, never in the user's own folders); returns stdout + stderr."""
    env = {"BLENDER_USER_SCRIPTS": str(tmp_path / "scripts"), "BLENDER_USER_CONFIG": str(tmp_path / "config")}
    out = run_blender("--python", str(script), env=env, timeout=timeout)
    return out.stdout + out.stderr


@pytest.fixture(scope="module")
def addon_zip(tmp_path_factory):
    return build.build(tmp_path_factory.mktemp("dist"))


def test_zip_holds_one_package_folder_with_the_manifest(addon_zip):
    with zipfile.ZipFile(addon_zip) as zf:
        names = zf.namelist()
    assert addon_zip.name == "ropar-0.1.0.zip"
    assert "ropar/__init__.py" in names and "ropar/blender_manifest.toml" in names
    assert "ropar/presets/mixamo.json" in names and "ropar/batch.py" in names
    assert "ropar/_vendored_skeleton.py" in names  # ropar_core's skeleton: the zip has no ropar_core
    assert all(n.startswith("ropar/") for n in names)
    assert not any("__pycache__" in n or n.endswith("build.py") for n in names)


def test_zip_passes_blenders_extension_validation(addon_zip):
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("bpy (Blender as a module) is not installed: no extension validator")
    bpy_dir = Path(next(iter(spec.submodule_search_locations)))
    found = list(bpy_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        pytest.skip("this bpy has no bundled extension validator (bl_pkg)")
    mod_spec = importlib.util.spec_from_file_location("ropar_test_blender_ext", found[0])
    blender_ext = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(blender_ext)
    manifest = blender_ext.pkg_manifest_from_archive_and_validate(str(addon_zip), strict=True)
    assert not isinstance(manifest, str), manifest  # a string is the validator's error message
    assert manifest.id == "ropar" and manifest.blender_version_min == "4.2.0"
    assert set(manifest.permissions) == {"network", "files"}


def test_extension_installs_and_enables_in_blender_5(addon_zip, tmp_path):
    if importlib.util.find_spec("bpy") is None:
        pytest.skip("bpy (Blender as a module) is not installed")
    script = (
        "import bpy\n"
        f"r = bpy.ops.extensions.package_install_files(filepath={str(addon_zip)!r}, repo='user_default', "
        "enable_on_install=True)\n"
        "prefs = bpy.context.preferences.addons['bl_ext.user_default.ropar'].preferences\n"
        "print('RESULT', r, hasattr(bpy.types.Scene, 'ropar'), prefs.backend,\n"
        "      bpy.context.scene.ropar.seconds)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path)})
    assert "RESULT {'FINISHED'} True SERVER_PROCESS 4.0" in out.stdout, out.stdout + out.stderr


@needs_blender
def test_zip_installs_as_an_addon_in_blender_3_and_generates(addon_zip, tmp_path):
    """Blender 3.4 (bl_info path, pre-4.4 action API): install, enable, generate with the fake backend."""
    script = tmp_path / "install.py"
    script.write_text(
        "import bpy, addon_utils\n"
        f"bpy.ops.preferences.addon_install(filepath={str(addon_zip)!r})\n"
        "addon_utils.enable('ropar', default_set=True)\n"
        "from ropar import rig\n"
        "bpy.context.preferences.addons['ropar'].preferences.backend = 'FAKE'\n"
        "obj = rig.build_smpl_armature('SMPL')\n"
        "print('OP', bpy.ops.ropar.generate(prompt='a person runs', armature='SMPL', seconds=2.0))\n"
        "act = obj.animation_data.action\n"
        "print('ACTION', act.name, len(act.fcurves), len(act.fcurves[0].keyframe_points))\n"
        "addon_utils.disable('ropar')\n"
        "print('AFTER', hasattr(bpy.types.Scene, 'ropar'))\n")
    text = run_script_in_user_folders(script, tmp_path)
    assert "OP {'FINISHED'}" in text, text
    assert "ACTION RoPAR a person runs 91 48" in text, text  # 22 quaternions + pelvis location; 2 s at 24 fps
    assert "AFTER False" in text, text


@needs_blender
def test_the_built_zip_generates_on_the_selected_metarig_with_no_set_up(addon_zip, tmp_path):
    """Factory settings, a fresh user folder, Debian's Blender 3.4: install the zip, add Rigify's metarig
    (it is the selected, active object) and press Generate without opening the preferences: the add-on
    starts `ropar serve` with the Python the zip was built with and keys the metarig. An unfamiliar
    prompt then raises a WARNING report. The preferences survive removing and reinstalling the add-on."""
    with zipfile.ZipFile(addon_zip) as zf:
        environment = json.loads(zf.read("ropar/_environment.json"))
    assert environment["python"] == sys.executable  # the build's interpreter: it has torch and ropar
    script = tmp_path / "first_use.py"
    script.write_text(
        "import bpy, addon_utils\n"
        f"bpy.ops.preferences.addon_install(filepath={str(addon_zip)!r})\n"
        "addon_utils.enable('ropar', default_set=True)\n"
        "print('BACKEND', bpy.context.preferences.addons['ropar'].preferences.backend)\n"
        "addon_utils.enable('rigify', default_set=True)\n"
        "bpy.ops.object.armature_human_metarig_add()\n"
        "print('OP', bpy.ops.ropar.generate(prompt='a person walks forward', seconds=2.0))\n"
        "act = bpy.data.objects['metarig'].animation_data.action\n"
        "print('ACTION', act.name, len(act.fcurves[0].keyframe_points))\n"
        "print('OP2', bpy.ops.ropar.generate(prompt='a person juggles flaming torches', seconds=2.0))\n"
        "prefs = bpy.context.preferences.addons['ropar'].preferences\n"
        "prefs.device = 'cpu'\n"
        "addon_utils.disable('ropar', default_set=True)\n"
        "try:\n"
        "    bpy.ops.preferences.addon_remove(module='ropar')  # removes, then redraws (no area: raises)\n"
        "except RuntimeError:\n"
        "    pass\n"
        "print('REMOVED', 'ropar' not in bpy.context.preferences.addons)\n"
        f"bpy.ops.preferences.addon_install(filepath={str(addon_zip)!r})\n"
        "addon_utils.enable('ropar', default_set=True)\n"
        "print('DEVICE', bpy.context.preferences.addons['ropar'].preferences.device)\n"
        "addon_utils.disable('ropar', default_set=True)\n")
    text = run_script_in_user_folders(script, tmp_path, timeout=300)
    assert "BACKEND SERVER_PROCESS" in text, text
    assert "OP {'FINISHED'}" in text and "ACTION RoPAR a person walks forward 48" in text, text
    assert "OP2 {'FINISHED'}" in text, text
    assert "Warning: 'a person juggles flaming torches' is unlike" in text, text  # a WARNING report
    assert "REMOVED True" in text and "DEVICE cpu" in text, text  # kept in the user folder


@needs_blender
def test_the_commercial_use_model_is_one_preference_away(addon_zip, tmp_path):
    """Preferences > Model: Open starts `ropar serve --model open` (the shipped model trained only on
    commercial-use data), which keys the metarig; the choice survives a reinstall."""
    script = tmp_path / "open_model.py"
    script.write_text(
        "import bpy, addon_utils\n"
        f"bpy.ops.preferences.addon_install(filepath={str(addon_zip)!r})\n"
        "addon_utils.enable('ropar', default_set=True)\n"
        "prefs = bpy.context.preferences.addons['ropar'].preferences\n"
        "prefs.model = 'open'\n"
        "addon_utils.enable('rigify', default_set=True)\n"
        "bpy.ops.object.armature_human_metarig_add()\n"
        "print('OP', bpy.ops.ropar.generate(prompt='a man goes for a walk down the street', seconds=2.0))\n"
        "print('ACTION', bpy.data.objects['metarig'].animation_data.action.name)\n"
        "from ropar import jobs\n"
        "backend = jobs.get_backend(prefs)\n"
        "print('COMMAND', ' '.join(backend.command(0)[3:]))\n"
        "print('HEALTH', backend.client._call('GET', '/health')['model'])\n"
        "addon_utils.disable('ropar', default_set=True)\n"
        "addon_utils.enable('ropar', default_set=True)\n"
        "print('MODEL', bpy.context.preferences.addons['ropar'].preferences.model)\n"
        "addon_utils.disable('ropar', default_set=True)\n")
    text = run_script_in_user_folders(script, tmp_path, timeout=300)
    assert "OP {'FINISHED'}" in text and "ACTION RoPAR a man goes for a walk" in text, text
    assert "--model open" in text.split("COMMAND", 1)[1].splitlines()[0], text
    assert "HEALTH open" in text and "MODEL open" in text, text


@needs_blender
def test_batch_turns_three_prompts_into_three_fbx_files(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a person walks forward\n# a comment\n\na person runs\n"
                       "a person waves with the right hand\n")
    out = tmp_path / "out"
    result = run_blender("--python", str(BATCH), "--", "--prompts", str(prompts), "--out", str(out),
                         "--format", "fbx", "--backend", "fake", "--seconds", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 prompts, 3 ok, 0 failed" in result.stdout
    files = sorted(out.glob("*.fbx"))
    assert [f.name for f in files] == ["a_person_runs.fbx", "a_person_walks_forward.fbx",
                                       "a_person_waves_with_the_right_hand.fbx"]
    assert not list(out.glob(".*"))  # no temporary files left behind
    _check_reimported(files[0], "a person runs")


@needs_blender
def test_batch_bvh_files_are_named_after_their_prompts(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a person runs\na person runs\n")
    out = tmp_path / "out"
    result = run_blender("--python", str(BATCH), "--", "--prompts", str(prompts), "--out", str(out),
                         "--format", "bvh", "--backend", "fake", "--seconds", "2", "--in-place", "--loop")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(f.name for f in out.glob("*.bvh")) == ["a_person_runs.bvh", "a_person_runs_2.bvh"]
    _check_reimported(out / "a_person_runs.bvh", "a_person_runs", frames=47)  # a loop drops its last frame


def _check_reimported(path: Path, name: str, frames: int = 48):
    """Import the file back (bpy 5.0 when present): an armature of 22 bones whose pose changes over time,
    keyed from frame 1, its action named after the prompt."""
    bpy = installed_or_skip("bpy", "bpy module missing: file content not re-imported")
    bpy.ops.wm.read_homefile(use_empty=True)
    if path.suffix == ".fbx":
        assert bpy.ops.import_scene.fbx(filepath=str(path)) == {"FINISHED"}
    else:
        assert bpy.ops.import_anim.bvh(filepath=str(path)) == {"FINISHED"}
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    assert len(arm.data.bones) == 22
    action = arm.animation_data.action
    assert name in action.name, action.name  # FBX: 'SMPL|RoPAR a person runs'; BVH: the file name
    first, last = (int(v) for v in action.frame_range)
    assert (first, last - first + 1) == (1, frames)  # 2 s at the factory scene's 24 fps
    heads = []
    for f in (first, (first + last) // 2, last):
        bpy.context.scene.frame_set(f)
        ev = arm.evaluated_get(bpy.context.evaluated_depsgraph_get())
        heads.append(np.array([pb.head for pb in ev.pose.bones]))
    assert np.abs(heads[1] - heads[0]).max() > 0.05 and np.abs(heads[2] - heads[1]).max() > 0.05


@needs_blender
def test_batch_failures_exit_non_zero_with_a_message(tmp_path):
    missing = run_blender("--python", str(BATCH), "--", "--prompts", str(tmp_path / "none.txt"),
                          "--out", str(tmp_path / "o"), "--backend", "fake")
    assert missing.returncode == 2 and "cannot read prompt file" in missing.stderr
    prompts = tmp_path / "p.txt"
    prompts.write_text("a person walks\n")
    offline = run_blender("--python", str(BATCH), "--", "--prompts", str(prompts),
                          "--out", str(tmp_path / "o"), "--server", "http://127.0.0.1:9")
    assert offline.returncode == 2 and "cannot reach the RoPAR server" in offline.stderr
    wrong_rig = run_blender("--python", str(BATCH), "--", "--prompts", str(prompts),
                            "--out", str(tmp_path / "o"), "--backend", "fake", "--rig", "mixamo")
    assert wrong_rig.returncode == 2 and "lacks bones that rig preset 'mixamo' needs" in wrong_rig.stderr


def test_batch_in_process_writes_one_blend_with_all_actions(tmp_path):
    """The same script through the bpy 5.0 module (layered actions), metarig built by Rigify."""
    bpy = installed_or_skip("bpy", "bpy (Blender as a module) is not installed")
    from blender_addon import batch

    bpy.ops.wm.read_homefile(use_empty=True)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a person walks forward\na person runs\n")
    code = batch.main(["--prompts", str(prompts), "--out", str(tmp_path), "--format", "blend",
                       "--backend", "fake", "--make-rig", "metarig", "--seconds", "1.5", "--foot-lock"])
    assert code == 0
    saved = tmp_path / "ropar_batch.blend"
    assert saved.is_file()
    with bpy.data.libraries.load(str(saved)) as (data_from, _):
        names = sorted(data_from.actions)
    assert names == ["RoPAR a person runs", "RoPAR a person walks forward"]
    assert {int(bpy.data.actions[n].frame_range[0]) for n in names} == {1}  # keys from frame 1


@needs_blender
def test_batch_writes_its_blend_to_a_relative_out_and_fails_when_it_cannot_write(tmp_path):
    """`make blender-demo`'s call: a relative --out (Blender itself refuses relative save paths)."""
    prompts = tmp_path / "p.txt"
    prompts.write_text("a person walks forward\na person runs\n")
    args = [BLENDER, "-b", "--factory-startup", "--python", str(BATCH), "--", "--prompts", str(prompts),
            "--format", "blend", "--backend", "fake", "--seconds", "1"]
    ok = subprocess.run([*args, "--out", "out/blender"], capture_output=True, text=True, timeout=120,
                        cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (tmp_path / "out" / "blender" / "ropar_batch.blend").is_file()
    assert not list((tmp_path / "out" / "blender").glob(".*"))  # no temporary file left
    assert f"saved 2 actions in {tmp_path / 'out' / 'blender' / 'ropar_batch.blend'}" in ok.stdout
    (tmp_path / "a_file").write_text("not a folder")
    no_folder = subprocess.run([*args, "--out", "a_file/out"], capture_output=True, text=True,
                               timeout=120, cwd=tmp_path)
    assert no_folder.returncode == 2 and "cannot create the output folder" in no_folder.stderr, (
        no_folder.stdout + no_folder.stderr)
    (tmp_path / "taken" / "ropar_batch.blend").mkdir(parents=True)  # the .blend's name is a folder
    blocked = subprocess.run([*args, "--out", "taken"], capture_output=True, text=True, timeout=120,
                             cwd=tmp_path)
    assert blocked.returncode == 1 and "cannot write" in blocked.stderr, blocked.stdout + blocked.stderr
    assert not list((tmp_path / "taken").glob(".*"))
