"""Atomic writes: the data is fsynced before the rename and the directory after it, a failed write
leaves neither the target nor a temporary file."""

from __future__ import annotations

import os

import pytest

from ropar_core import atomic


def test_data_is_synced_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(a, b):
        events.append(("replace", str(b)))
        real_replace(a, b)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    target = tmp_path / "out.json"
    atomic.write_text(target, "{}")
    kinds = [e[0] for e in events]
    assert kinds == ["fsync", "replace", "fsync"], events
    assert events[0][1].startswith(str(tmp_path / ".out.")) and events[2][1] == str(tmp_path)
    assert target.read_text() == "{}"


def test_a_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "x.npz"
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_replace_dir_moves_a_finished_directory(tmp_path):
    stage = tmp_path / ".tmp_step"
    stage.mkdir()
    atomic.write_text(stage / "state.json", '{"step": 1}')
    atomic.replace_dir(stage, tmp_path / "step")
    assert (tmp_path / "step" / "state.json").read_text() == '{"step": 1}' and not stage.exists()
