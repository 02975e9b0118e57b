"""`ropar generate`, `ropar info` and `ropar serve` end to end on a tiny model directory: files of every
format, prompt files (plain and JSON lines), patterns and directories, editing, and every bad input as
one line on stderr with exit status 2 and no output written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ropar_core import skeleton as sk
from ropar_core.cli import main
from tests.helpers.tiny_model import make_tiny_model_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny")


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_one_prompt_with_preview(model, tmp_path, capsys):
    code, out, err = run_cli(capsys, "generate", "a person waves with the right hand", "--seconds", "2",
                             "--model", model, "--out", tmp_path / "wave.npz",
                             "--preview", tmp_path / "wave.png", "--seed", 3)
    assert code == 0, err
    assert "generated 1 motion of 40 frames (2 s)" in out and "s per motion" in out and "on cpu" in out
    data = np.load(tmp_path / "wave.npz")
    assert data["joints"].shape == (40, 22, 3) and data["rotations"].shape == (40, 22, 4)
    assert int(data["seed"]) == 3 and str(data["text"]) == "a person waves with the right hand"
    assert (tmp_path / "wave.png").stat().st_size > 1000
    # the same command gives the same motion
    code, _, err = run_cli(capsys, "generate", "a person waves with the right hand", "--seconds", "2",
                           "--model", model, "--out", tmp_path / "again.npz", "--seed", 3)
    assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "again.npz")["joints"], data["joints"])


def test_every_output_format(model, tmp_path, capsys):
    from ropar_core.features import features_to_joints
    from ropar_core.io import load_motion

    base = tmp_path / "m"
    for suffix in (".bvh", ".npy", ".json"):
        preview = ["--preview", f"{base}.gif"] if suffix == ".bvh" else []
        code, _, err = run_cli(capsys, "generate", "a person jumps", "--frames", 30, "--model", model,
                               "--out", f"{base}{suffix}", *preview)
        assert code == 0, err
    assert Image.open(f"{base}.gif").n_frames == 30
    features = np.load(f"{base}.npy")
    assert features.shape == (30, 263)  # the model's own 263-d output, one row per frame
    joints = features_to_joints(features)
    bvh = load_motion(f"{base}.bvh", fps=None)
    assert bvh.frames == 30 and bvh.fps == 20
    # a BVH has one length per bone (the median) and the tiny random model's bones stretch, so compare
    # the directions of the bones below single-child joints, which the BVH keeps exactly
    kids = [j for j in range(1, 22) if sk.PARENTS[j] not in (0, 9)]
    parents = [sk.PARENTS[j] for j in kids]
    a, b = bvh.joints[:, kids] - bvh.joints[:, parents], joints[:, kids] - joints[:, parents]
    cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 1.0
    assert np.allclose(bvh.joints[:, 0], joints[:, 0], atol=1e-4)  # the root path
    payload = json.loads(Path(f"{base}.json").read_text())
    assert payload["frames"] == 30 and np.allclose(payload["joints"], joints, atol=1e-5)


def test_prompt_file_to_a_directory_and_jsonl_to_a_pattern(model, tmp_path, capsys):
    plain = tmp_path / "prompts.txt"
    plain.write_text("# demo prompts\na person walks forward\n\n  a person sits down  \na person waves\n")
    code, out, err = run_cli(capsys, "generate", "--prompts", plain, "--frames", 16, "--model", model,
                             "--out", f"{tmp_path}/out/", "--preview", tmp_path / "prev", "--seed", 10,
                             "--quiet")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["000.bvh", "001.bvh", "002.bvh"]
    assert sorted(p.name for p in (tmp_path / "prev").iterdir()) == ["000.png", "001.png", "002.png"]
    assert "generated 3 motions" in out

    jsonl = tmp_path / "prompts.jsonl"
    lines = [{"text": "a person runs", "seconds": 1.0}, {"text": "a person kicks", "frames": 24, "seed": 99},
             {"prompt": "a person bows"}]
    jsonl.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    code, _, err = run_cli(capsys, "generate", "--prompts", jsonl, "--model", model, "--frames", 12,
                           "--out", str(tmp_path / "pat" / "{index:02d}_{slug}_{seed}.npz"), "--seed", 5)
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "pat").iterdir())
    assert names == ["00_a_person_runs_5.npz", "01_a_person_kicks_99.npz", "02_a_person_bows_7.npz"]
    lengths = [np.load(tmp_path / "pat" / n)["joints"].shape[0] for n in names]
    assert lengths == [20, 24, 12]
    # a prompt's motion does not depend on the other prompts of the file
    code, _, err = run_cli(capsys, "generate", "a person kicks", "--frames", 24, "--seed", 99,
                           "--model", model, "--out", tmp_path / "alone.npz")
    assert code == 0, err
    assert np.allclose(np.load(tmp_path / "alone.npz")["joints"],
                       np.load(tmp_path / "pat" / names[1])["joints"], atol=1e-4)


def test_edit_keeps_the_legs_of_a_motion_file(model, tmp_path, capsys):
    from ropar_core.io import Motion, load_motion, save_motion
    from tests.helpers.tiny_model import walking_motion

    save_motion(tmp_path / "walk.npz", Motion(walking_motion(40), None, 20.0))
    code, out, err = run_cli(capsys, "generate", "a person waves both arms", "--edit", tmp_path / "walk.npz",
                             "--keep-parts", "legs", "--model", model, "--out", tmp_path / "edit.npz")
    assert code == 0, err
    assert "edited 1 motion" in out
    src = load_motion(tmp_path / "walk.npz", fps=None).joints
    got = np.load(tmp_path / "edit.npz")["joints"]
    legs = sorted(set(sk.PART_JOINTS["left_leg"]) | set(sk.PART_JOINTS["right_leg"]))
    assert got.shape == src.shape and np.array_equal(got[:, legs], src[:, legs])
    code, _, err = run_cli(capsys, "generate", "a person jumps", "--edit", tmp_path / "walk.npz",
                           "--keep-frames", "0:16", "--model", model, "--out", tmp_path / "edit2.npz")
    assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "edit2.npz")["joints"][:16], src[:16])


@pytest.mark.parametrize("args, match", [
    ([], "give a PROMPT or --prompts"),
    (["a person walks", "--prompts", "p.txt"], "exactly one"),
    (["--prompts", "missing.txt"], "no such prompts file"),
    (["--prompts", "@empty"], "holds no prompts"),
    (["--prompts", "@badjson"], r"bad\.jsonl:2: invalid JSON"),
    (["--prompts", "@badkey"], r"keys\.jsonl:1: unknown key"),
    (["a person walks", "--out-suffix", ".txt"], "use one of .bvh"),
    (["--prompts", "@two", "--out-file"], "give a directory or a pattern"),
    (["--prompts", "@two", "--out-pattern", "x_{seed}.bvh"], "needs {index}"),
    (["a person walks", "--keep-parts", "legs"], "only make sense with --edit"),
    (["a person walks", "--edit", "@motion"], "needs --keep-parts"),
    (["a person walks", "--edit", "@motion", "--keep-frames", "a:b"], "use A:B"),
    (["a person walks", "--edit", "@motion", "--keep-parts", "wings"], "unknown body part"),
    (["a person walks", "--model", "@nomodel"], "does not exist"),
    (["   "], "empty prompt"),
    (["a person walks", "--frames", "0"], "at least 4 frames"),
    (["a person walks", "--cfg", "50"], "cfg"),
    (["a person walks", "--preview", "x.jpg"], ".png, .gif"),
])
def test_bad_inputs_exit_2_with_one_line_and_write_nothing(model, tmp_path, capsys, args, match):
    from ropar_core.io import Motion, save_motion
    from tests.helpers.tiny_model import walking_motion

    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{"text": \n')
    (tmp_path / "keys.jsonl").write_text('{"text": "a", "speed": 2}\n')
    (tmp_path / "two.txt").write_text("a person walks\na person runs\n")
    save_motion(tmp_path / "motion.npz", Motion(walking_motion(20), None, 20.0))
    names = {"@empty": "empty.txt", "@badjson": "bad.jsonl", "@badkey": "keys.jsonl", "@two": "two.txt",
             "@motion": "motion.npz", "@nomodel": "no_model_here"}
    argv = ["generate"] + [str(tmp_path / names[a]) if a in names else a for a in args]
    out_args = ["--out", str(tmp_path / "result" / "o.bvh")]
    if "--out-suffix" in argv:
        i = argv.index("--out-suffix")
        out_args = ["--out", str(tmp_path / "result" / f"o{argv[i + 1]}")]
        del argv[i:i + 2]
    elif "--out-file" in argv:
        argv.remove("--out-file")
    elif "--out-pattern" in argv:
        i = argv.index("--out-pattern")
        out_args = ["--out", str(tmp_path / "result" / argv[i + 1])]
        del argv[i:i + 2]
    if "--model" not in argv:
        argv += ["--model", str(model)]
    argv = [str(tmp_path / "result" / a) if a == "x.jpg" else a for a in argv]
    before = set(tmp_path.rglob("*"))
    code, _, err = run_cli(capsys, *(argv + out_args))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ropar generate: error: "), err
    assert re.search(match, lines[0]), lines[0]
    assert set(tmp_path.rglob("*")) == before  # nothing written


def test_cuda_request_without_a_gpu(model, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, _, err = run_cli(capsys, "generate", "a person walks", "--device", "cuda", "--model", model,
                           "--out", tmp_path / "x.bvh")
    assert code == 2 and "no CUDA GPU" in err and not (tmp_path / "x.bvh").exists()


def test_info(model, capsys):
    code, out, err = run_cli(capsys, "info", "--model", model)
    assert code == 0, err
    assert str(Path(model).resolve()) in out and "M parameters" in out
    assert "Licence: CC BY-NC 4.0 (test only). (README.md)" in out
    assert "device:        cpu" in out or "device:        cuda" in out
    code, out, _ = run_cli(capsys, "info", "--model", model, "--json")
    info = json.loads(out)
    assert info["networks"]["pvae"]["parameters"] > 0 and info["ropar"]["max_time_tokens"] == 12
    assert info["window_seconds"] == 2.4 and info["sampling"] == {"cfg": 2.0, "steps": 4}
    code, _, err = run_cli(capsys, "info", "--model", Path(model).parent / "missing")
    assert code == 2 and "does not exist" in err


def test_serve_command_listens_on_loopback_and_answers(model):
    cmd = [sys.executable, "-m", "ropar_core.cli", "serve", "--model", str(model), "--port", "0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        line = proc.stderr.readline()
        assert "listening on http://127.0.0.1:" in line, line
        url = line.split("listening on ")[1].split()[0]
        with urllib.request.urlopen(url + "/health", timeout=30) as resp:
            health = json.loads(resp.read())
        assert health["status"] == "ok" and health["model"] == "tiny"
        req = urllib.request.Request(url + "/generate", data=json.dumps(
            {"prompt": "a person walks", "frames": 8, "seed": 2}).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert json.loads(resp.read())["motions"][0]["seed"] == 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_refuses_remote_hosts_before_loading_anything(capsys):
    code, _, err = run_cli(capsys, "serve", "--host", "0.0.0.0", "--model", "/does/not/matter")
    assert code == 2 and "allow-remote" in err


def test_a_failing_preview_leaves_neither_file(model, tmp_path, capsys, monkeypatch):
    import ropar_core.preview as preview

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(preview, "save_preview", broken)
    code, _, err = run_cli(capsys, "generate", "a person walks", "--frames", 20, "--model", model,
                           "--out", tmp_path / "m.bvh", "--preview", tmp_path / "m.png")
    assert code == 2 and "No space left" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # no motion file, no preview, no temporary file
    monkeypatch.undo()
    blocked = tmp_path / "file"
    blocked.write_text("x")  # a file where the preview's folder should be
    code, _, err = run_cli(capsys, "generate", "a person walks", "--frames", 20, "--model", model,
                           "--out", tmp_path / "m.bvh", "--preview", blocked / "p.png")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
