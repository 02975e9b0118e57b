"""The server's learn jobs (`POST /learn`, ropar_core/learn.py) on a real shared video with the shipped
model: a tiny fine-tune gives a complete model that knows the caption; /health and /generate answer while
a job runs; cancel and a server stop leave no folder behind; the HTTP guard covers the new endpoints;
bad requests get one-line errors; a server without the training package says so."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ropar_core import cli, learn
from ropar_core.generator import Generator
from tests.helpers.server import Running
from tests.helpers.videos import SINGLE, unpack_videos

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TOKEN = "learn-token-of-32-characters-xxx"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CAPTION = "someone bounces a basketball with one hand"
TINY = {"steps": 2, "replay_seeds": 0, "batch_size": 1}  # a fine-tune of seconds


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return unpack_videos(tmp_path_factory.mktemp("videos")) / SINGLE


@pytest.fixture(scope="module")
def server():
    s = Running(Generator.from_pretrained(None, device="cpu", threads=1), token=TOKEN)
    yield s
    s.close()


def post(s: Running, path: str, body, headers=None):
    return s.request("POST", path, body, {**AUTH, **(headers or {})})


def wait(s: Running, job: str, until=lambda b: b["state"] != "running", timeout: float = 300.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status, body = s.request("GET", f"/learn/{job}", headers=AUTH)
        assert status == 200, body
        if until(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"learn job {job} did not get there in {timeout} s: {body}")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_learn_writes_a_complete_model_that_knows_the_caption(server, video, tmp_path):
    out = tmp_path / "models" / "bounce"
    status, body = post(server, "/learn", {"video": str(video), "caption": CAPTION, "out": str(out), **TINY})
    assert status == 200 and body["state"] == "running" and body["stage"] == "video"
    seen = []
    done = wait(server, body["job"], until=lambda b: seen.append(b) or b["state"] != "running")
    assert done["state"] == "done", done
    assert done["model"] == str(out) and done["progress"] == 1.0 and done["error"] is None
    # progress went up through both steps, with the clip's summary on the way
    progress = [b["progress"] for b in seen]
    assert progress == sorted(progress) and {b["stage"] for b in seen} == {"video", "finetune"}
    assert any(b["message"].startswith("credible frames: torso") for b in seen)
    assert leftovers(out.parent) == ["bounce"]  # no work folder left beside it
    assert {"config.json", "ropar.safetensors", "pvae.safetensors", "stats.safetensors",
            "vocabulary.json", "knowledge.safetensors", "MODEL_CARD.md"} <= set(leftovers(out))
    rows = json.loads((out / "vocabulary.json").read_text())
    assert rows[-1]["example"] == CAPTION
    tuned = Generator.from_pretrained(out, device="cpu", threads=1)
    motion = tuned.generate(CAPTION, seconds=1, seed=0, steps=2)[0]
    assert motion.warning is None and motion.joints.shape == (20, 22, 3)


def test_health_and_generation_answer_while_a_job_runs_and_cancel_leaves_nothing(server, video, tmp_path):
    out = tmp_path / "models" / "long"
    status, body = post(server, "/learn", {"video": str(video), "caption": CAPTION, "out": str(out),
                                           "steps": 5000, "replay_seeds": 0, "batch_size": 1})
    assert status == 200
    job = body["job"]
    wait(server, job, until=lambda b: b["stage"] == "finetune" or b["state"] != "running")
    assert server.request("GET", "/health", headers=AUTH)[0] == 200
    status, gen = post(server, "/generate", {"prompt": "a person walks forward", "seconds": 1, "steps": 2})
    assert status == 200 and gen["motions"][0]["frames"] == 20
    second = {"video": str(video), "caption": CAPTION, "out": str(tmp_path / "b")}
    status, busy = post(server, "/learn", second)
    assert status == 409 and busy["error"]["code"] == "busy"
    status, running = server.request("GET", f"/learn/{job}", headers=AUTH)
    assert running["state"] == "running" and running["stage"] == "finetune"  # all of that during the job

    child = server.httpd.learning.jobs[job]._child
    status, cancelled = post(server, "/learn/cancel", {"job": job})
    assert status == 200 and cancelled["state"] == "cancelled" and cancelled["model"] is None
    assert child.poll() is not None  # the fine-tune process is gone
    assert leftovers(out.parent) == []  # nothing half-written: no model, no work folder


def test_a_server_stopped_mid_job_leaves_nothing(video, tmp_path):
    s = Running(Generator.from_pretrained(None, device="cpu", threads=1))
    out = tmp_path / "models" / "stopped"
    status, body = s.request("POST", "/learn", {"video": str(video), "caption": CAPTION, "out": str(out),
                                               "steps": 5000, "replay_seeds": 0, "batch_size": 1})
    assert status == 200
    wait(s, body["job"], until=lambda b: b["stage"] == "finetune")
    child = s.httpd.learning.jobs[body["job"]]._child
    s.close()
    assert child.poll() is not None and leftovers(out.parent) == []


def test_the_guard_covers_the_learn_endpoints(server, video, tmp_path):
    good = {"video": str(video), "caption": CAPTION, "out": str(tmp_path / "m"), **TINY}
    assert server.request("POST", "/learn", good)[0] == 401  # no token
    assert server.request("GET", "/learn/1", headers={})[0] == 401
    assert post(server, "/learn", good, {"Origin": "https://evil.example"})[0] == 403
    assert post(server, "/learn", good, {"Host": "evil.example"})[0] == 403
    assert post(server, "/learn", good, {"Content-Type": "text/plain"})[0] == 415
    assert post(server, "/learn/cancel", {"job": "1"}, {"Content-Type": "text/plain"})[0] == 415
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(("change", "message"), [
    ({"video": "relative.mp4"}, "'video' and 'out' must be absolute paths"),
    ({"video": "/no/such/video.mp4"}, "video /no/such/video.mp4 is not a file"),
    ({"caption": "  "}, "'caption' (a non-empty string) is required"),
    ({"caption": "two\nlines"}, "'caption' must be one line of at most 500 characters"),
    ({"steps": 0}, "'steps' must be a whole number in 1..100000"),
    ({"replay_seeds": True}, "'replay_seeds' must be a whole number in 0..20"),
    ({"model": "x"}, "unknown field(s) 'model'"),
])
def test_bad_learn_requests_are_one_line_400s(server, video, tmp_path, change, message):
    body = {"video": str(video), "caption": CAPTION, "out": str(tmp_path / "m"), **change}
    status, answer = post(server, "/learn", body)
    assert status == 400 and answer["error"]["message"].startswith(message)
    assert "\n" not in answer["error"]["message"] and not (tmp_path / "m").exists()


def test_an_existing_out_folder_and_unknown_jobs_are_refused(server, video, tmp_path):
    (tmp_path / "taken").mkdir()
    body = {"video": str(video), "caption": CAPTION, "out": str(tmp_path / "taken")}
    status, answer = post(server, "/learn", body)
    assert status == 400 and "already exists" in answer["error"]["message"]
    assert server.request("GET", "/learn/nope", headers=AUTH)[0] == 404
    assert post(server, "/learn/cancel", {"job": "nope"})[0] == 404
    assert post(server, "/learn/cancel", {"id": "nope"})[0] == 400


def test_a_server_without_the_training_package_says_so(server, video, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "plugin_commands", dict)  # no "ropar.commands" entry point installed
    body = {"video": str(video), "caption": CAPTION, "out": str(tmp_path / "m")}
    status, answer = post(server, "/learn", body)
    assert status == 501 and answer["error"]["code"] == "not_implemented"
    assert answer["error"]["message"].startswith("learning from video needs `ropar finetune`")
    assert not learn.finetune_installed() and not (tmp_path / "m").exists()


def test_a_server_open_to_other_machines_offers_no_learning(video, tmp_path):
    s = Running(Generator.from_pretrained(None, device="cpu", threads=1), allow_remote=True)
    try:
        body = {"video": str(video), "caption": CAPTION, "out": str(tmp_path / "m"), **TINY}
        status, answer = s.request("POST", "/learn", body)
        assert status == 403 and answer["error"]["message"].startswith("learning from video is only offered")
    finally:
        s.close()
    assert not (tmp_path / "m").exists()


def test_a_killed_server_leaves_no_half_written_folder(video, tmp_path):
    """A server killed outright never cancels its job: the child sees it gone, removes its folder, ends."""
    import os
    import signal
    import subprocess
    import sys

    from blender_addon.backend import HttpBackend, free_port

    port = free_port()
    env = {**os.environ, "ROPAR_SERVE_TOKEN": TOKEN}
    server = subprocess.Popen([sys.executable, "-m", "ropar_core.cli", "serve", "--port", str(port),
                               "--device", "cpu", "--threads", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = HttpBackend(f"http://127.0.0.1:{port}", token=TOKEN)
        for _ in range(600):
            try:
                client.health(timeout=1.0)
                break
            except Exception:
                time.sleep(0.2)
        out = tmp_path / "models" / "killed"
        job = client.call("POST", "/learn", {"video": str(video), "caption": CAPTION, "out": str(out),
                                             "steps": 5000, "replay_seeds": 0, "batch_size": 1})["job"]
        while client.call("GET", f"/learn/{job}")["stage"] != "finetune":
            time.sleep(0.2)
        assert leftovers(out.parent)  # its work folder is there while it runs
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        for _ in range(100):
            if not leftovers(out.parent):
                break
            time.sleep(0.2)
        time.sleep(2.0)  # and the child writes nothing more
        assert leftovers(out.parent) == []
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
