""""Learn from Video" as a user meets it: Debian's Blender 3.4 with its real UI under Xvfb
(tests/blender_learn_ui_session.py fills the section and presses its button), the shipped model in a
`ropar serve` process, a real shared video. The test reads the session's record and its screenshots."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.videos import SINGLE, unpack_videos

pytestmark = [pytest.mark.blender, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
BLENDER, XVFB = shutil.which("blender"), shutil.which("xvfb-run")


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    if BLENDER is None or XVFB is None:
        pytest.skip("needs Debian's `blender` and `xvfb-run` on PATH")
    tmp = tmp_path_factory.mktemp("learn-ui")
    video = unpack_videos(tmp) / SINGLE
    addons = tmp / "scripts" / "addons"
    addons.mkdir(parents=True)
    (addons / "blender_addon").symlink_to(ROOT / "blender_addon", target_is_directory=True)
    env = {**os.environ, "BLENDER_USER_CONFIG": str(tmp / "config"),
           "BLENDER_USER_SCRIPTS": str(tmp / "scripts"), "ROPAR_USER_PRESETS": str(tmp / "user" / "presets")}
    out = subprocess.run([XVFB, "-a", "-s", "-screen 0 1600x1200x24", BLENDER, "--factory-startup",
                          "--enable-event-simulate", "--python",
                          str(ROOT / "tests" / "blender_learn_ui_session.py"), "--", str(tmp), sys.executable,
                          str(video)], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    record = tmp / "session.json"
    assert record.is_file(), out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(record.read_text()), tmp


def test_the_button_learns_the_video_with_progress_and_switches_the_model(session):
    seen, tmp = session
    model = tmp / "user" / "models" / "someone-bounces-a-basketball"
    assert seen["invoke"] == ["FINISHED"]  # returned at once: the work runs in the background
    state, message = seen["status"]
    assert state == "done" and str(model) in message, seen["status"]
    assert seen["preferences_type"] == "RoparPreferences" and seen["model_dir"] == str(model)
    assert seen["server_model_dir"] == str(model) and (model / "ropar.safetensors").is_file()
    stored = json.loads((tmp / "user" / "preferences.json").read_text())
    assert stored["model_dir"] == str(model)  # kept for the next Blender session
    progress = [p for p, _ in seen["running"]]
    assert progress == sorted(progress) and progress[-1] > 0.4  # it went up, into the training
    messages = " ".join(m for _, m in seen["running"])
    assert "posing video frames" in messages and "training" in messages


def test_the_screenshots_show_the_section(session):
    from PIL import Image

    seen, tmp = session
    for name in ("learning.png", "learned.png"):
        x, width, height = seen["shots"][name]
        image = np.asarray(Image.open(tmp / name).convert("RGB"), dtype=np.int16)
        sidebar = image[:height, x:x + width]
        assert sidebar.std() > 10, name  # drawn widgets, not a blank region
    assert not np.array_equal(np.asarray(Image.open(tmp / "learning.png")),
                              np.asarray(Image.open(tmp / "learned.png")))
