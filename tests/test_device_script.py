"""scripts/device_experiment.sh dry-run on the CPU at the tiny preset: a device pack of a synthetic clean
cache -> clean cache rebuilt -> video-mode noise -> judge check -> key_claim -> reports.tgz."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.evaluator import train_tiny_evaluator
from tests.helpers.synthetic import make_synthetic_caches
from training.data import device_pack
from training.data.cache import Cache

REPO = Path(__file__).resolve().parents[1]


def test_pack_round_trip_rebuilds_the_clean_cache(tmp_path):
    clean = make_synthetic_caches(tmp_path / "src", per_label=4, names=["clean"])["clean"]
    info = device_pack.pack(clean, tmp_path / "pack.npz")
    assert info["clips"] == 40 and info["bytes"] < (clean / "features.npy").stat().st_size / 3
    meta = device_pack.unpack(tmp_path / "pack.npz", tmp_path / "rebuilt", workers=1)
    src, dst = Cache(clean), Cache(tmp_path / "rebuilt")
    assert [c["id"] for c in dst.clips] == [c["id"] for c in src.clips] and meta["device_pack"]
    assert [c["texts"] for c in dst.clips] == [c["texts"] for c in src.clips]
    err = np.abs(dst.features[:] - src.features[:])
    assert err.mean() < 2e-3 and np.percentile(err, 99) < 0.05
    (tmp_path / "bad.npz").write_bytes(b"nope")
    bad = ["unpack", "--pack", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "x")]
    assert device_pack.main(bad) == 2


@pytest.mark.slow
def test_device_script_dry_run_at_the_tiny_preset(tmp_path):
    clean = make_synthetic_caches(tmp_path / "src", per_label=16, names=["clean"])["clean"]
    device_pack.pack(clean, tmp_path / "pack.npz")
    train_tiny_evaluator(clean, tmp_path / "ev", 60)
    # Not the discard arm: the synthetic video noise leaves 12 fully credible train stretches, fewer than
    # one tiny batch (16); tests/test_key_claim.py trains it on a cache that has enough.
    env = {**os.environ, "PRESET": "tiny", "SEEDS": "2", "OTHER_SEEDS": "1", "JOBS": "1", "THREADS": "1",
           "DEVICE": "cpu", "ARMS": "ropar,blind_both,blind,fullbody",
           "DATA": str(tmp_path / "data"), "ARCHIVE": str(tmp_path / "none.tar.xz"),
           "PACK": str(tmp_path / "pack.npz"), "EVALUATOR": str(tmp_path / "ev"),
           "REPORTS": str(tmp_path / "reports"), "OUT": str(tmp_path / "out"), "JUDGE_REPEATS": "2",
           "BUDGET_S": "3000", "PYTHON": sys.executable, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "device_experiment.sh")], env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert Cache(tmp_path / "data" / "noisy_video_r50").meta["noise_mode"] == "video"
    with tarfile.open(tmp_path / "out" / "reports.tgz") as tar:
        names = tar.getnames()
        report = json.load(tar.extractfile("report.json"))
    # ropar and blind_both on 2 seeds, blind and fullbody on 1, each with its P-VAE's record
    # ... in the folder named after the video-noise cache (the clean cache's name + "-noisy-video-r50")
    records = [n for n in names if n.startswith("runs/clean-noisy-video-r50/") and n.endswith(".json")]
    assert len(records) == 11 and "judge/noisy_video_r50.json" in names
    assert report["key_claim"]["noise_mode"] == "video" and report["judge"]["noise_mode"] == ["video"]
    arms = report["key_claim"]["arms"]
    assert len(arms["blind_both"]["r1"]) == 2 and len(arms["fullbody"]["r1"]) == 1
    assert not arms["discard"]["seeds"]


def test_no_data_is_a_clear_error(tmp_path):
    env = {**os.environ, "DATA": str(tmp_path / "data"), "ARCHIVE": str(tmp_path / "none"),
           "PACK": str(tmp_path / "none.npz"), "OUT": str(tmp_path / "out"), "REPORTS": str(tmp_path / "r"),
           "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "device_experiment.sh")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no data" in proc.stderr
