"""The panel as a user meets it: Debian's Blender 3.4 with its real UI under Xvfb
(tests/blender_ui_session.py clicks the RoPAR tab and Generate), the shipped model in a `ropar serve`
process, Rigify's metarig selected and the Rig field left empty. The test reads the session's record
and looks at its screenshots."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tests.helpers.blender_ui import BLENDER, require_blender_ui, run_session

pytestmark = [pytest.mark.blender, pytest.mark.slow]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    require_blender_ui()
    tmp = tmp_path_factory.mktemp("ui")
    blend = tmp / "scene.blend"
    make = ("import bpy, addon_utils\n"
            "for o in list(bpy.data.objects): bpy.data.objects.remove(o)\n"
            "addon_utils.enable('rigify', default_set=True)\n"
            "bpy.ops.object.armature_human_metarig_add()\n"
            f"bpy.ops.wm.save_as_mainfile(filepath={str(blend)!r})\n")
    subprocess.run([BLENDER, "-b", "--factory-startup", "--python-expr", make], check=True,
                   capture_output=True, timeout=120)
    env = {"BLENDER_USER_CONFIG": str(tmp / "config"), "ROPAR_USER_PRESETS": str(tmp / "p")}
    return run_session("blender_ui_session.py", tmp, blend=blend, env=env), tmp


def test_generate_keys_the_selected_armature_and_warns_about_an_unfamiliar_prompt(session):
    seen, _ = session
    assert seen["action"] == "RoPAR a person juggles flaming torches"  # the selected metarig, no Rig set
    state, message = seen["status"]
    assert state == "warning" and "is unlike anything this model was trained on" in message
    assert "is unlike anything this model was trained on" in seen["info"]  # the Info editor has it


def test_the_status_wraps_inside_the_sidebar_with_the_warning_icon(session):
    """In the screenshot: the status is a first line with the icon, then a run of text lines at one
    indent (the icon's column left blank), all ending before the sidebar's tab column: nothing is cut
    off."""
    from PIL import Image

    seen, tmp = session
    x0, width, _ = seen["sidebar"]
    shot = np.asarray(Image.open(tmp / "sidebar.png").convert("RGB")).astype(int)
    bright = shot[:, x0:x0 + width].min(axis=2) > 170  # Blender's white UI text
    bands, top = [], None
    for y, on in enumerate(bright.any(axis=1)):
        if on and top is None:
            top = y
        elif not on and top is not None:
            cols = np.flatnonzero(bright[top:y].any(axis=0))
            bands.append((top, y, int(cols.min()), int(cols.max())))
            top = None
    runs, run = [], []
    for band in bands:  # consecutive lines with the same left edge: a wrapped paragraph
        if run and abs(band[2] - run[-1][2]) <= 2 and band[0] - run[-1][1] < 12:
            run.append(band)
        else:
            runs.append(run)
            run = [band]
    runs.append(run)
    status = max(runs, key=len)
    right = max(b[3] for b in status)
    print(f"status: {len(status)} wrapped lines, text x {status[0][2]}..{right} of {width}")
    assert len(status) >= 5  # the long warning is shown in full, over several lines
    assert right < 0.85 * width  # every line ends before the tabs: none is cut off
    first = bands[bands.index(status[0]) - 1]  # the first line starts further left: the icon is there
    assert status[0][0] - first[1] < 12 and first[2] < status[0][2] - 10
    assert first[3] < 0.85 * width
    assert seen["status"][0] == "warning"  # drawn with Blender's warning icon (panel.STATUS_ICONS)


def test_warm_clicks_key_every_motion(session):
    """Three more clicks with the server warm: each keys its motion, the last in the foreground. (How
    long a click takes to keys is measured by benchmarks/bench_blender_click.py; the progress estimate
    and the foreground/background choice by tests/test_blender_addon.py.)"""
    seen, _ = session
    print(f"click -> keys: {seen['clicks']} s; the model server's own time: {seen['server_s']} s")
    assert len(seen["clicks"]) == 4 and all(s is not None for s in seen["server_s"])
    # The first request (no pace known yet) is a background job; once the server's pace predicts a
    # short request, a click runs it in the foreground.
    assert seen["foreground"][0] is False and seen["foreground"][-1] is True
    for job in seen["warm_running"]:  # whatever the status line showed while running: a moving estimate
        progress = [p for p, _ in job]
        assert progress == sorted(progress) and all(0 < p < 1 for p in progress)


def test_undo_takes_back_the_last_click(session):
    """Ctrl+Z after a warm click (run in the foreground: the operator's own undo step) brings back the
    action of the click before it."""
    seen, _ = session
    before, after = seen["undo"]
    print(f"actions: {seen['actions']}; undo: {before} -> {after}")
    assert before == seen["actions"][-1] and after == seen["actions"][-2] and after != before
