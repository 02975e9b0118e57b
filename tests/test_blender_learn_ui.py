""""Learn from Video" as a user meets it: Debian's Blender 3.4 with its real UI under Xvfb
(tests/blender_learn_ui_session.py fills the section and presses its button), the shipped model in a
`ropar serve` process, a real shared video. The test reads the session's record and its screenshots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers.blender_ui import ROOT, require_blender_ui, run_session
from tests.helpers.videos import SINGLE, unpack_videos

pytestmark = [pytest.mark.blender, pytest.mark.slow]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    require_blender_ui()
    tmp = tmp_path_factory.mktemp("learn-ui")
    video = unpack_videos(tmp) / SINGLE
    addons = tmp / "scripts" / "addons"
    addons.mkdir(parents=True)
    (addons / "blender_addon").symlink_to(ROOT / "blender_addon", target_is_directory=True)
    env = {"BLENDER_USER_CONFIG": str(tmp / "config"), "BLENDER_USER_SCRIPTS": str(tmp / "scripts"),
           "ROPAR_USER_PRESETS": str(tmp / "user" / "presets")}
    return run_session("blender_learn_ui_session.py", tmp, str(video), env=env, screen="1600x1200",
                       timeout=600), tmp


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
