"""The add-on's backends without Blender: request/response validation, the fake backend's progress and
cancel, the HTTP client against the real `ropar serve` (ropar_core.server with a tiny random Generator),
`ropar serve` started as a process, and the in-process Generator."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

from blender_addon.backend import (
    FakeBackend,
    GenerationRequest,
    HttpBackend,
    InProcessBackend,
    Motion,
    ServerProcessBackend,
    free_port,
    make_backend,
)
from blender_addon.errors import BackendError, CancelledError
from blender_addon.smpl22 import PART_OWN_JOINTS


def test_requests_are_validated_with_one_line_messages():
    with pytest.raises(BackendError, match="empty prompt"):
        GenerationRequest("   ")
    with pytest.raises(BackendError, match="seconds must be in"):
        GenerationRequest("walk", seconds=0)
    with pytest.raises(BackendError, match="unknown body part"):
        GenerationRequest("walk", keep_parts=("tail",), edit_joints=np.zeros((4, 22, 3)))
    with pytest.raises(BackendError, match="needs a current motion"):
        GenerationRequest("walk", keep_parts=("torso",))
    body = GenerationRequest("  a  person\twalks ", seconds=2, seed=3).to_json()
    assert body == {"prompt": "a person walks", "seconds": 2.0, "seed": 3}  # model defaults: no cfg/steps
    edit = GenerationRequest("walk", cfg=2.5, steps=8, keep_parts=("torso",), edit_joints=np.ones((5, 22, 3)))
    body = edit.to_json()
    assert body["keep_parts"] == ["torso"] and np.shape(body["motion"]["joints"]) == (5, 22, 3)
    assert body["cfg"] == 2.5 and body["steps"] == 8


def test_malformed_motions_are_rejected():
    with pytest.raises(BackendError, match=r"expected \(frames >= 2, 22, 3\)"):
        Motion(np.zeros((10, 21, 3)), 20)
    bad = np.zeros((10, 22, 3))
    bad[2, 3, 1] = np.inf
    with pytest.raises(BackendError, match="NaN or inf"):
        Motion(bad, 20)
    with pytest.raises(BackendError, match="frame rate"):
        Motion(np.zeros((10, 22, 3)), 0)
    with pytest.raises(BackendError, match="malformed"):
        Motion.from_json({"fps": 20})


def test_fake_backend_reports_progress_and_honours_cancel():
    seen = []
    motion = FakeBackend().generate(GenerationRequest("a person runs", seconds=1.5),
                                    lambda fraction, message: seen.append(fraction))
    assert motion.joints.shape == (30, 22, 3) and motion.rotations.shape == (30, 22, 4) and motion.fps == 20
    assert seen == sorted(seen) and len(seen) == 5
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        FakeBackend().generate(GenerationRequest("a person runs"), cancel=cancel)
    with pytest.raises(BackendError, match="unknown backend"):
        make_backend("GPU")


def test_unreachable_server_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendError, match=f"cannot reach the RoPAR server at {url}"):
        HttpBackend(url).generate(GenerationRequest("a person walks"))
    with pytest.raises(BackendError, match="must start with http"):
        HttpBackend("127.0.0.1:8765")


# ----------------------------------------------------------------------------------------------------
# The real server and Generator (tiny random weights: shapes and plumbing, not motion quality)


def _tiny():
    # Imported here, not at the top, so the validation tests above run without torch; a broken import
    # fails these tests (never a skip).
    from ropar_core.server import make_server
    from tests.helpers.tiny_model import make_tiny_model_dir, tiny_generator

    return make_server, tiny_generator, make_tiny_model_dir


@pytest.fixture(scope="module")
def server():
    make_server, tiny_generator, _ = _tiny()
    httpd = make_server(tiny_generator(), host="127.0.0.1", port=0, log=lambda m: None)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    httpd.service.stop()


def test_http_backend_generates_and_edits_through_ropar_serve(server):
    client = HttpBackend(server)
    assert client.health()["status"] == "ok"
    motion = client.generate(GenerationRequest("a person walks forward", seconds=2.0, seed=3, steps=2))
    assert motion.joints.shape == (40, 22, 3) and motion.rotations.shape == (40, 22, 4)
    assert motion.fps == 20 and motion.seed == 3 and motion.prompt == "a person walks forward"
    again = client.generate(GenerationRequest("a person walks forward", seconds=2.0, seed=3, steps=2))
    np.testing.assert_allclose(again.joints, motion.joints, atol=1e-5)  # seeded: reproducible

    source = motion.joints
    edited = client.generate(GenerationRequest("a person waves", seconds=2.0, steps=2,
                                               keep_parts=("left_leg",), edit_joints=source, edit_fps=20.0))
    legs = list(PART_OWN_JOINTS["left_leg"])
    np.testing.assert_allclose(edited.joints[:, legs], source[:, legs], atol=1e-4)  # kept exactly


def test_server_errors_come_back_as_their_message(server):
    with pytest.raises(BackendError, match=r"server error 400: cfg must be a number in \[0, 20\]"):
        HttpBackend(server).generate(GenerationRequest("a person walks", cfg=99.0))


def test_server_process_backend_starts_ropar_serve(tmp_path):
    _, _, make_tiny_model_dir = _tiny()
    model = make_tiny_model_dir(tmp_path / "tiny")
    backend = ServerProcessBackend(sys.executable, str(model), device="cpu", startup_timeout_s=120)
    try:
        start = time.perf_counter()
        motion = backend.generate(GenerationRequest("a person jumps", seconds=1.0, steps=2))
        print(f"server process: first motion after {time.perf_counter() - start:.1f} s (startup included)")
        assert motion.joints.shape == (20, 22, 3)
        assert backend.process is not None and backend.process.poll() is None
        assert backend.start() is backend.client  # reused, not restarted
        # the server it started wants the per-start token: another local program gets a 401
        with pytest.raises(BackendError, match="server error 401"):
            HttpBackend(backend.client.url).health()
    finally:
        backend.close()
    assert backend.process is None


def test_server_process_failures_are_explained(tmp_path):
    with pytest.raises(BackendError, match="not found"):
        ServerProcessBackend(str(tmp_path / "no-python")).generate(GenerationRequest("walk"))
    with pytest.raises(BackendError, match="does not exist"):
        ServerProcessBackend(sys.executable, str(tmp_path / "nope")).generate(GenerationRequest("walk"))
    # An interpreter without ropar (-I ignores this checkout, -S the site-packages where an editable
    # install may put it): the process dies and we say why.
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\ncd /\nexec {sys.executable} -I -S \"$@\"\n")
    script.chmod(0o755)
    with pytest.raises(BackendError, match=r"exited with code 1: .*No module named 'ropar_core'"):
        ServerProcessBackend(str(script)).generate(GenerationRequest("walk"))


def test_in_process_backend_uses_the_generator(tmp_path):
    _, _, make_tiny_model_dir = _tiny()
    model = make_tiny_model_dir(tmp_path / "tiny")
    backend = InProcessBackend(str(model), device="cpu")
    motion = backend.generate(GenerationRequest("a person sits down", seconds=1.0, seed=2, steps=2))
    assert motion.joints.shape == (20, 22, 3) and motion.seed == 2
    with pytest.raises(BackendError, match="could not load the model"):
        InProcessBackend(str(tmp_path / "missing"), device="cpu").generate(GenerationRequest("walk"))


def test_http_backend_carries_the_models_warning_on_an_unfamiliar_prompt():
    """`ropar serve` with the shipped model: its `warnings` reach Motion.warning (the panel shows it)."""
    from pathlib import Path

    from ropar_core import Generator

    make_server, _, _ = _tiny()
    model = Path(__file__).resolve().parents[1] / "assets" / "default"
    httpd = make_server(Generator.from_pretrained(str(model), device="cpu"), host="127.0.0.1", port=0,
                        log=lambda m: None)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        client = HttpBackend(f"http://127.0.0.1:{httpd.server_address[1]}")
        odd = client.generate(GenerationRequest("a person plays the guitar", seconds=1.0))
        assert "unlike anything this model was trained on" in odd.warning
        assert client.generate(GenerationRequest("a person walks forward", seconds=1.0)).warning == ""
    finally:
        httpd.shutdown()
        httpd.server_close()
        httpd.service.stop()
