"""The command line's hard edges: only regular files are read (no device, FIFO or symlink loop, also
inside OpenPose folders), frame lists are capped before anything is built, duplicate BVH joints are
refused, output patterns are bounded, batches are written as they finish into a folder checked first,
stale temporary files of dead writers are removed, and argparse errors are one line. Every refusal is
one line on stderr and exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ropar_core import atomic, limits
from ropar_core.cli import main
from ropar_core.errors import ModelError
from tests.helpers.tiny_model import make_tiny_model_dir, walking_motion


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny")


def refused(capsys, *argv) -> str:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own refusals exit from inside main
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    return err[0]


@pytest.fixture()
def fifo(tmp_path):
    path = tmp_path / "frames.json"
    os.mkfifo(path)
    return path


def test_devices_and_fifos_are_refused_without_reading(tmp_path, capsys, fifo):
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    for keypoints in (fifo, tmp_path / "zero.json"):
        msg = refused(capsys, "credibility", keypoints, "--format", "coco17", "--out", tmp_path / "m.json")
        assert "not a regular" in msg, msg
    folder = tmp_path / "openpose"
    folder.mkdir()
    os.mkfifo(folder / "000000_keypoints.json")
    msg = refused(capsys, "credibility", folder, "--format", "openpose25", "--out", tmp_path / "m.json")
    assert "000000_keypoints.json: not a regular" in msg
    msg = refused(capsys, "convert", "/dev/zero", tmp_path / "o.npz", "--from", "bvh")
    assert "not a regular" in msg
    msg = refused(capsys, "generate", "--prompts", fifo, "--out", tmp_path / "out/")
    assert "not a regular prompts file" in msg
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "out").exists()


def test_a_plain_list_of_frames_is_capped_before_it_is_built(tmp_path, capsys):
    path = tmp_path / "nulls.json"
    path.write_text(json.dumps([None] * (limits.MAX_MOTION_FRAMES + 1)))
    msg = refused(capsys, "credibility", path, "--format", "coco17", "--out", tmp_path / "m.json")
    assert f"at most {limits.MAX_MOTION_FRAMES}" in msg
    assert not (tmp_path / "m.json").exists()


def _bvh_text(tmp_path: Path) -> str:
    from ropar_core.bvh import write_bvh

    write_bvh(tmp_path / "walk.bvh", walking_motion(8), None, 20.0)
    return (tmp_path / "walk.bvh").read_text()


def test_a_duplicate_bvh_joint_is_refused(tmp_path, capsys):
    text = _bvh_text(tmp_path)
    (tmp_path / "dup.bvh").write_text(text.replace("JOINT r_knee", "JOINT l_knee", 1))
    assert "JOINT r_knee" in text
    msg = refused(capsys, "convert", tmp_path / "dup.bvh", tmp_path / "out.npz")
    assert "'l_knee' appears twice" in msg
    assert not (tmp_path / "out.npz").exists()


def test_two_joints_matching_one_bone_are_refused(tmp_path):
    """Names that differ but map to the same bone (case, namespace) are ambiguous too."""
    import dataclasses

    import numpy as np

    from ropar_core.bone_maps import bvh_to_smpl22
    from ropar_core.bvh import read_bvh
    from ropar_core.errors import MotionFileError

    (tmp_path / "walk.bvh").write_text(_bvh_text(tmp_path))
    bvh = read_bvh(tmp_path / "walk.bvh")
    j = bvh.names.index("l_knee")
    extra = dataclasses.replace(
        bvh, names=bvh.names + ["rig:L_KNEE"], parents=np.append(bvh.parents, bvh.parents[j]),
        offsets=np.concatenate([bvh.offsets, bvh.offsets[j:j + 1]]), channels=bvh.channels + [()],
        positions=np.concatenate([bvh.positions, bvh.positions[:, j:j + 1]], axis=1),
        rotations=np.concatenate([bvh.rotations, bvh.rotations[:, j:j + 1]], axis=1))
    with pytest.raises(MotionFileError, match="'l_knee' and 'rig:L_KNEE' both match"):
        bvh_to_smpl22(extra)


def test_symlink_loops_are_one_line(tmp_path, capsys):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    (tmp_path / "walk.bvh").write_text(_bvh_text(tmp_path))
    assert "symbolic link loop" in refused(capsys, "convert", tmp_path / "a", tmp_path / "o.npz")
    assert "symbolic link loop" in refused(capsys, "convert", tmp_path / "walk.bvh", tmp_path / "a" / "o.npz")
    msg = refused(capsys, "generate", "a person walks", "--out", tmp_path / "a" / "o.bvh")
    assert "not a folder" in msg


@pytest.mark.parametrize("pattern, match", [
    ("{index:999999999d}.bvh", "too wide"), ("{index:{seed}}.bvh", "too wide or nested"),
    ("{index.real}.bvh", "unknown field"), ("{0}.bvh", "unknown field"), ("{index", "bad pattern"),
])
def test_output_patterns_are_bounded_before_any_formatting(tmp_path, capsys, pattern, match):
    (tmp_path / "two.txt").write_text("a person walks\na person runs\n")
    msg = refused(capsys, "generate", "--prompts", tmp_path / "two.txt", "--out", tmp_path / pattern)
    assert match in msg, msg


def test_invalid_utf8_prompts_are_one_line(tmp_path, capsys):
    msg = refused(capsys, "generate", os.fsdecode(b"a \xff person"), "--out", tmp_path / "o.bvh")
    assert "not valid UTF-8 text (the byte 0xff at character 2)" in msg
    (tmp_path / "bad.txt").write_bytes(b"a person walks\na \xff person runs\n")
    assert "bad.txt:2: not UTF-8" in refused(capsys, "generate", "--prompts", tmp_path / "bad.txt", "--out",
                                             tmp_path / "o/")
    (tmp_path / "sur.jsonl").write_text('{"text": "a person walks"}\n{"text": "a \\ud800 b"}\n')
    assert "sur.jsonl:2: the prompt is not valid UTF-8" in refused(
        capsys, "generate", "--prompts", tmp_path / "sur.jsonl", "--out", tmp_path / "o/")


def test_argparse_errors_are_one_line(capsys):
    msg = refused(capsys, "generate", "x", "--seconds", "abc", "--out", "a.bvh")
    assert msg.startswith("ropar generate: error: argument --seconds: invalid float value")
    assert refused(capsys, "credibility").startswith("ropar credibility: error: the following arguments")


def test_a_batch_is_written_as_it_finishes(model, tmp_path, capsys, monkeypatch):
    """Prompts 0-3 (two batches of 2) are on disk when the third batch fails: a crash or a kill loses
    only the batch in progress."""
    from ropar_core.errors import RoparError
    from ropar_core.generator import Generator

    calls = []
    real = Generator.generate

    def failing_third(self, prompts, **kw):
        calls.append(len(prompts))
        if len(calls) == 3:
            raise RoparError("the disk caught fire")
        return real(self, prompts, **kw)

    monkeypatch.setattr(Generator, "generate", failing_third)
    (tmp_path / "five.txt").write_text("".join(f"a person walks {i}\n" for i in range(5)))
    msg = refused(capsys, "generate", "--prompts", tmp_path / "five.txt", "--frames", 8, "--steps", 1,
                  "--batch-size", 2, "--model", model, "--out", tmp_path / "out/", "--quiet")
    assert "caught fire (the first 4 of 5 motions were written)" in msg and calls == [2, 2, 1]
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["000.bvh", "001.bvh", "002.bvh", "003.bvh"]


def test_an_unwritable_output_folder_is_found_before_the_model_loads(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    msg = refused(capsys, "generate", "a person walks", "--model", tmp_path / "no-model",
                  "--out", tmp_path / "file" / "o.bvh")
    assert "is not a folder" in msg  # not the missing model: the output was checked first


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".007.ropar-{dead}-abcd_123.bvh"
    live = tmp_path / f".008.ropar-{os.getppid()}-abcd_123.bvh"  # a running writer's: kept
    other = tmp_path / ".007.notours.bvh"
    for p in (stale, live, other):
        p.write_text("half")
    atomic.write_text(tmp_path / "007.bvh", "done")
    assert not stale.exists() and live.exists() and other.exists()
    assert (tmp_path / "007.bvh").read_text() == "done"


def test_model_folder_edges(tmp_path, capsys):
    import shutil

    import numpy as np

    from ropar_core.knowledge import Knowledge

    k = Knowledge(np.eye(2, dtype=np.float32), np.array([0, 1]), ["walk", "run"], float("nan"))
    k.save(tmp_path)
    with pytest.raises(ModelError, match="threshold nan"):
        Knowledge.load(tmp_path)
    model = make_tiny_model_dir(tmp_path / "tiny")
    (model / "vocabulary.json").write_text("[" * 50_000 + "]" * 50_000)
    assert "nested too deeply" in refused(capsys, "info", "--model", model)
    shutil.rmtree(model)
