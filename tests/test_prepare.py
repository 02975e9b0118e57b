"""`python -m training.prepare` end to end on the four Bandai fixture clips."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from training.data import prepare
from training.data.cache import Cache
from training.data.dataset import MotionDataset

FIXTURES = Path(__file__).resolve().parent / "data" / "bandai"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("prep") / "cache"
    code = prepare.main(["--bandai-dir", str(FIXTURES), "--out", str(out), "--limit", "3", "--workers", "1",
                         "--variants", "0.7", "--quiet", "--plots"])
    assert code == 0
    return out


def test_end_to_end(prepared, capsys):
    clean = Cache(prepared / "clean")
    assert len(clean) == 3 and not clean.noisy
    assert {c["split"] for c in clean.clips} <= {"train", "val", "test"}
    assert all(len(c["texts"]) == prepare.NUM_CAPTIONS for c in clean.clips)
    assert np.asarray(clean.credible).all()
    assert len(list((prepared / "_work" / "features").glob("*.npy"))) == 3
    for name, ratio in (("noisy", 0.5), ("noisy_r70", 0.7)):
        noisy = Cache(prepared / name)
        assert noisy.noisy and noisy.meta["target_credible_ratio"] == ratio
        assert [c["id"] for c in noisy.clips] == [c["id"] for c in clean.clips]
        np.testing.assert_array_equal(np.asarray(noisy.clean_features), np.asarray(clean.features))
        assert 0.0 < noisy.credible_token_ratio() < 1.0
    assert list((prepared / "plots" / "noisy").glob("*.png"))
    # the training side can read what prepare wrote
    item = MotionDataset(prepared / "noisy", split=clean.clips[0]["split"], crop_frames=32, min_frames=4)[0]
    assert item["features"].shape == (32, 263)


def test_rerun_skips_finished_work_and_resumes(prepared, capsys):
    feature_file = next((prepared / "_work" / "features").glob("*.npy"))
    mtime = feature_file.stat().st_mtime_ns
    clean_mtime = (prepared / "clean" / "features.npy").stat().st_mtime_ns
    (prepared / "noisy_r70" / "meta.json").unlink()  # as if interrupted while writing that cache
    args = ["--bandai-dir", str(FIXTURES), "--out", str(prepared), "--limit", "3", "--workers", "1",
            "--variants", "0.7", "--quiet"]
    assert prepare.main(args) == 0
    captured = capsys.readouterr()
    assert f"{prepared / 'clean'} is up to date" in captured.err
    assert f"{prepared / 'noisy'} is up to date" in captured.err
    assert feature_file.stat().st_mtime_ns == mtime
    assert (prepared / "clean" / "features.npy").stat().st_mtime_ns == clean_mtime
    assert Cache(prepared / "noisy_r70").meta["target_credible_ratio"] == 0.7
    # the summary: clips, hours, captions, ratios per part, time taken
    for text in ("3 clips", " h at 20 fps", "12 captions", "requested 0.50", "requested 0.70",
                 "per part {'torso'", "time "):
        assert text in captured.out


def test_same_settings_are_linked_not_recomputed(prepared):
    args = ["--bandai-dir", str(FIXTURES), "--out", str(prepared), "--limit", "3", "--workers", "1",
            "--variants", "0.5", "--quiet"]
    assert prepare.main(args) == 0
    np.testing.assert_array_equal(np.load(prepared / "noisy_r50" / "features.npy"),
                                  np.load(prepared / "noisy" / "features.npy"))


def test_video_variants_are_the_simulators_caches_and_are_built_once(prepared, capsys):
    """--video-variants writes noisy_video_rXX as `simulate_noise --mode video` does (no fingerprint: a cache
    built either way has one identity in the experiments' run records); a rerun keeps it."""
    from training.data import simulate_noise

    args = ["--bandai-dir", str(FIXTURES), "--out", str(prepared), "--limit", "3", "--workers", "1",
            "--video-variants", "0.7", "--quiet"]
    assert prepare.main(args) == 0
    video = Cache(prepared / "noisy_video_r70")
    assert video.meta["noise_mode"] == "video" and video.meta["target_credible_ratio"] == 0.7
    assert "fingerprint" not in video.meta or video.meta["fingerprint"] is None
    direct = prepared.parent / "direct"
    simulate_noise.simulate_cache(prepared / "clean", direct, 0.7, 0, mode="video", progress=False)
    np.testing.assert_array_equal(np.load(direct / "features.npy"), np.asarray(video.features))
    np.testing.assert_array_equal(np.load(direct / "credible.npy"), np.asarray(video.credible))
    mtime = (prepared / "noisy_video_r70" / "features.npy").stat().st_mtime_ns
    capsys.readouterr()
    assert prepare.main(args) == 0
    assert f"{prepared / 'noisy_video_r70'} is up to date" in capsys.readouterr().err
    assert (prepared / "noisy_video_r70" / "features.npy").stat().st_mtime_ns == mtime


def test_archive_and_workers(tmp_path):
    archive = tmp_path / "bandai.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        for f in sorted(FIXTURES.glob("dataset-2_*"))[:4]:
            tar.add(f, arcname=f"Bandai-Namco-Research-Motiondataset-2/data/{f.name}")
    out = tmp_path / "cache"
    assert prepare.main(["--archive", str(archive), "--out", str(out), "--limit", "2", "--workers", "2",
                         "--quiet"]) == 0
    assert (out / "_work" / "raw" / ".unpacked").exists()
    assert len(Cache(out / "clean")) == 2 and len(Cache(out / "noisy")) == 2


def test_bad_inputs_fail_with_one_line(tmp_path, capsys):
    assert prepare.main(["--bandai-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prepare: error:") and "no Bandai dataset-2 BVH" in err and "\n" not in err
    args = ["--bandai-dir", str(FIXTURES), "--out", str(tmp_path / "o")]
    assert prepare.main(args + ["--noisy-ratio", "0"]) == 2
    assert "--noisy-ratio must be in (0, 1]" in capsys.readouterr().err
    assert prepare.main(["--archive", str(tmp_path / "none.tar.xz"), "--out", str(tmp_path / "o")]) == 2
    assert "archive not found" in capsys.readouterr().err
    broken = tmp_path / "broken.tar.xz"
    broken.write_bytes(b"not an archive")
    assert prepare.main(["--archive", str(broken), "--out", str(tmp_path / "o2")]) == 2
    assert "cannot unpack" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        prepare.main(["--variants", "0.3,abc"])


def test_unreadable_bvh_is_an_error_when_too_many(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for f in FIXTURES.glob("dataset-2_*"):
        shutil.copy(f, data / f.name)
    (data / "dataset-2_walk_normal_001.bvh").write_text("HIERARCHY\nROOT Hips\n{\n")  # truncated
    assert prepare.main(["--bandai-dir", str(data), "--out", str(tmp_path / "o"), "--workers", "1",
                         "--quiet"]) == 2
    assert "1 of 5 BVH files could not be read" in capsys.readouterr().err


def test_module_entry_point(tmp_path):
    done = subprocess.run([sys.executable, "-m", "training.prepare", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "--noisy-ratio" in done.stdout and "--variants" in done.stdout
