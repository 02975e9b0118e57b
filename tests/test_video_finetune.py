"""`ropar finetune` on a clip made by `ropar video` from a shared video (real MediaPipe): a few steps on the
shipped model give a complete model directory whose knowledge files know the new caption; the command is
an entry-point plugin (ropar_core never imports training); bad inputs get one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ropar_core import checkpoint
from ropar_core.generator import DEFAULT_MODEL_DIR, Generator
from ropar_core.video_clip import save_clip, video_to_clip
from tests.helpers.videos import SINGLE, unpack_videos
from training.finetune import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parents[1]
CAPTION = "someone juggles three balls"


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ft")
    clip = video_to_clip(unpack_videos(tmp) / SINGLE, CAPTION, progress=False)
    clip.credible[:, 3:] = False  # as if the legs had been out of the picture: they must not be taught
    return save_clip(tmp / "clip.npz", clip)


@pytest.fixture(scope="module")
def tuned(clip_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "tuned"
    assert main([str(clip_file), "--out", str(out), "--steps", "2", "--replay-seeds", "1",
                 "--batch-size", "4", "--threads", "1"]) == 0
    return out


def test_finetune_writes_a_complete_model_that_knows_the_new_caption(tuned):
    assert sorted(p.name for p in tuned.iterdir()) == sorted(
        ["MODEL_CARD.md", "config.json", "knowledge.safetensors", "pvae.safetensors", "ropar.safetensors",
         "stats.safetensors", "vocabulary.json"])
    config = checkpoint.load_config(tuned)
    base = checkpoint.load_config(DEFAULT_MODEL_DIR)
    assert config["ropar"] == {**base["ropar"], "max_time_tokens": config["ropar"]["max_time_tokens"]}
    assert config["train"]["init"] == str(DEFAULT_MODEL_DIR) and config["train"]["steps"] == 2
    # the P-VAE is the base model's, unchanged: it encodes the clip with its credibility mask
    a, b = checkpoint.load_weights(tuned / "pvae.safetensors"), checkpoint.load_weights(
        DEFAULT_MODEL_DIR / "pvae.safetensors")
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    rows = json.loads((tuned / "vocabulary.json").read_text())
    assert rows[-1]["example"] == CAPTION and rows[-1]["source"] == "video"
    assert CAPTION in (tuned / "MODEL_CARD.md").read_text()

    before = Generator.from_pretrained(DEFAULT_MODEL_DIR, device="cpu", threads=1)
    after = Generator.from_pretrained(tuned, device="cpu", threads=1)
    assert before.generate(CAPTION, seconds=2, seed=0)[0].warning is not None
    motion = after.generate(CAPTION, seconds=2, seed=0)[0]
    assert motion.warning is None and np.isfinite(motion.joints).all()
    assert after.generate("a person walks forward", seconds=2, seed=0)[0].warning is None


def test_finetune_is_a_plugin_command_declared_in_pyproject(monkeypatch, clip_file, tmp_path, capsys):
    pyproject = (ROOT / "pyproject.toml").read_text()
    group = re.search(r'\[project\.entry-points\."ropar\.commands"\]\n(.*?)\n\n', pyproject, re.S)
    assert group and group.group(1).splitlines() == ['finetune = "training.finetune"']
    from ropar_core import cli

    monkeypatch.setattr(cli, "plugin_commands", lambda: {"finetune": "training.finetune"})
    assert cli.main(["finetune", str(clip_file), "--out", str(tmp_path / "m"), "--steps", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ropar finetune: error: --steps must be in 1..100000, got 0"]
    assert not (tmp_path / "m").exists()


def test_bad_clips_get_one_line_errors(clip_file, tuned, tmp_path, capsys):
    def error(argv):
        assert main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ropar finetune: error: ")
        return lines[0]

    assert "already exists" in error([str(clip_file), "--out", str(tuned)])
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert "not a readable clip" in error([str(bad), "--out", str(tmp_path / "m")])
    with np.load(clip_file) as d:
        np.savez(tmp_path / "nocap.npz", joints=d["joints"], credible=d["credible"], fps=d["fps"])
        np.savez(tmp_path / "unseen.npz", joints=d["joints"], credible=np.zeros_like(d["credible"]),
                 fps=d["fps"], text=d["text"])
    assert "no caption" in error([str(tmp_path / "nocap.npz"), "--out", str(tmp_path / "m")])
    assert "no body part is credible" in error([str(tmp_path / "unseen.npz"), "--out", str(tmp_path / "m"),
                                                "--replay-seeds", "0"])
    assert not (tmp_path / "m").exists()
