"""The add-on's "Learn from Video" (blender_addon/learn_ui.py, learn.py) inside the bpy 5.0 module: the
operator sends a real shared video to the `ropar serve` process the add-on starts, a tiny fine-tune of the
shipped model lands in a folder named after the caption beside the user presets, and the add-on switches
to it (the preference, the restarted server: the caption then draws no unfamiliar-prompt warning);
cancel leaves no folder; bad settings get one clear line."""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

import pytest

from tests.helpers.optional import installed_or_skip
from tests.helpers.videos import SINGLE, unpack_videos

bpy = installed_or_skip("bpy", "bpy (Blender as a Python module) is not installed")

from blender_addon import jobs, learn, learn_ui, props, rig  # noqa: E402
from blender_addon.backend import FakeBackend, ServerProcessBackend  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.usefixtures("registered_addon", "one_torch_thread")]
CAPTION = "Someone bounces a basketball, one hand!"
TINY = dict(replay_seeds=0, batch_size=1)  # with steps=2: a fine-tune of seconds


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return unpack_videos(tmp_path_factory.mktemp("videos")) / SINGLE


@pytest.fixture(scope="module")
def server():
    backend = ServerProcessBackend(sys.executable, device="cpu")
    yield backend
    backend.close()


@pytest.fixture
def scene(blender_scene, server, tmp_path, monkeypatch):
    monkeypatch.setenv("ROPAR_USER_PRESETS", str(tmp_path / "presets"))
    prefs = SimpleNamespace(backend="SERVER_PROCESS", model_dir="")
    monkeypatch.setattr(props, "preferences", lambda context=None: prefs)
    jobs.set_backend_override(server)
    blender_scene.ropar_learn.steps = 2
    return blender_scene, prefs


def test_learn_from_video_writes_the_model_and_switches_the_addon_to_it(scene, video, server, tmp_path):
    sc, prefs = scene
    sc.ropar_learn.video, sc.ropar_learn.caption = str(video), CAPTION
    assert bpy.ops.ropar.learn_video(**TINY) == {"FINISHED"}
    model = tmp_path / "models" / "someone-bounces-a-basketball-one-hand"
    assert learn.models_dir() == tmp_path / "models" and sorted(p.name for p in model.parent.iterdir()) == [
        model.name]  # beside the presets, named after the caption, no work folder left
    assert (model / "ropar.safetensors").is_file() and CAPTION in (model / "vocabulary.json").read_text()
    assert prefs.model_dir == str(model) and server.model_dir == str(model)
    state, message, _ = learn_ui.status()
    assert state == "done" and str(model) in message
    for _ in range(600):  # the server process restarts on the learned model by itself
        if server.client is not None:
            break
        time.sleep(0.2)
    assert server.client.health()["model"] == model.name

    rig.build_smpl_armature("SMPL")
    sc.ropar.prompt, sc.ropar.seconds = " ".join(CAPTION.split()), 1.0
    assert bpy.ops.ropar.generate(armature="SMPL") == {"FINISHED"}
    assert jobs.status()[0] == "done"  # not "warning": the model knows the caption now
    assert bpy.data.objects["SMPL"].animation_data.action is not None

    sc.ropar_learn.steps = 2  # the same caption again: a new, numbered folder
    assert bpy.ops.ropar.learn_video(**TINY) == {"FINISHED"}
    assert (tmp_path / "models" / f"{model.name}-2" / "config.json").is_file()


def test_cancel_stops_the_job_and_writes_nothing(scene, video, server, tmp_path):
    sc, prefs = scene
    task = learn_ui.start(bpy.context, server, str(video), "someone dribbles", 5000, **TINY)
    task.thread.start()  # as the panel does; the timer's part is done by hand below
    while task.progress < 0.2 and not task.finished.is_set():  # into the fine-tune step
        task.finished.wait(0.2)
    assert learn_ui.is_running() and learn_ui.status()[0] == "running"
    assert bpy.ops.ropar.learn_cancel() == {"FINISHED"}
    assert task.finished.wait(60)
    assert learn_ui.finish(bpy.context, task)[0] == "cancelled"
    assert not learn_ui.is_running() and prefs.model_dir == ""
    models = tmp_path / "models"
    assert not models.exists() or list(models.iterdir()) == []


@pytest.mark.parametrize(("settings", "message"), [
    ({"video": "", "caption": "someone dribbles"}, "choose a video file"),
    ({"video": "//no-such-video.mp4", "caption": "someone dribbles"}, "choose a video file"),
    ({"video": "VIDEO", "caption": "   "}, "describe what the person in the video does"),
])
def test_bad_settings_are_one_clear_line(scene, video, settings, message):
    sc, _ = scene
    sc.ropar_learn.video = str(video) if settings["video"] == "VIDEO" else settings["video"]
    sc.ropar_learn.caption = settings["caption"]
    with pytest.raises(RuntimeError, match=message):  # bpy raises the operator's ERROR report
        bpy.ops.ropar.learn_video(**TINY)
    assert learn_ui.status()[0] == "failed" and learn_ui.status()[1].startswith(message)


def test_other_backends_are_told_to_use_the_server_process(scene, video):
    sc, _ = scene
    jobs.set_backend_override(FakeBackend())
    sc.ropar_learn.video, sc.ropar_learn.caption = str(video), "someone dribbles"
    with pytest.raises(RuntimeError, match="runs in the server process the add-on starts"):
        bpy.ops.ropar.learn_video(**TINY)
