"""Training: P-VAE and RoPAR runs on a tiny synthetic cache; exact resume after a stop; DDP on gloo with two
CPU processes; NaN stop; YAML overrides; the output is a model directory the Generator loads."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ropar_core import checkpoint
from ropar_core.errors import RoparError
from tests.helpers.training_data import TINY
from training.train import engine
from training.train.config import TrainConfig, apply_overrides, load_yaml

ROOT = Path(__file__).resolve().parents[1]
def _run_module(module, args):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _weights(path):
    return checkpoint.load_weights(path)


def _same(a, b):
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_pvae_run_writes_a_model_directory(pvae_dir):
    from ropar_core.modeldir import load_pvae

    pvae, mean, std = load_pvae(pvae_dir)
    assert pvae.cfg.width == 32 and mean.shape == (263,)
    summary = json.loads((pvae_dir / "summary.json").read_text())
    assert summary["step"] == 6 and summary["eval"]["mpjpe_mm"] > 0
    lines = (pvae_dir / "metrics.jsonl").read_text().splitlines()
    assert len([ln for ln in lines if '"loss"' in ln]) == 6
    assert any((pvae_dir / "tb").iterdir())
    assert json.loads((pvae_dir / "checkpoints" / "latest.json").read_text())["step"] == 6


def test_pvae_resume_is_exact(pvae_dir, cache_dir, tmp_path):
    """6 straight steps == 3 steps, stop, resume, 3 more (the same weights, EMA and optimizer state)."""
    from training.train.train_pvae import main

    out = tmp_path / "split"
    common = ["--data", str(cache_dir), "--out", str(out), "--steps", "6", "--ckpt-every", "3",
              "--eval-every", "6", *TINY]
    assert main(common + ["--stop-after", "3"]) == 0
    assert not (out / "pvae.safetensors").exists()  # stopped, not finished
    assert main(common + ["--resume"]) == 0
    a, b = pvae_dir / "checkpoints" / "step_00000006", out / "checkpoints" / "step_00000006"
    for name in ("model", "ema", "optim"):
        assert _same(_weights(a / f"{name}.safetensors"), _weights(b / f"{name}.safetensors")), name
    assert _same(_weights(pvae_dir / "pvae.safetensors"), _weights(out / "pvae.safetensors"))


def test_ropar_run_resume_and_generator(pvae_dir, cache_dir, tmp_path):
    from training.train.train_ropar import main

    args = ["--data", str(cache_dir), "--pvae", str(pvae_dir), "--steps", "4", "--ckpt-every", "2",
            "--eval-every", "4", "--crop-frames", "64", *TINY]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(args + ["--out", str(straight)]) == 0
    assert main(args + ["--out", str(split), "--stop-after", "2"]) == 0
    encoded_at = (split / "latents.safetensors").stat().st_mtime_ns
    assert main(args + ["--out", str(split), "--resume"]) == 0
    assert (split / "latents.safetensors").stat().st_mtime_ns == encoded_at  # latents reused, not re-encoded
    assert _same(_weights(straight / "ropar.safetensors"), _weights(split / "ropar.safetensors"))

    config = json.loads((straight / "config.json").read_text())
    assert {"pvae", "ropar", "text_encoder", "fps"} <= set(config)
    assert config["ropar"]["max_time_tokens"] == 16  # 64-frame crops
    from ropar_core.generator import Generator

    g = Generator.from_pretrained(straight, device="cpu")
    [m] = g.generate("a person walks forward", frames=40, seed=1)
    assert m.joints.shape == (40, 22, 3) and np.isfinite(m.joints).all()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_cpu_processes_end_identical(cache_dir, tmp_path):
    out = tmp_path / "ddp"
    args = ["--nproc-per-node", "2", "--master-port", str(_free_port()), "-m", "training.train_pvae",
            "--data", str(cache_dir), "--out", str(out), "--steps", "3", "--eval-every", "0",
            "--batch-size", "2", "--preset", "tiny", "--threads", "1", "--device", "cpu", "--log-every", "1"]
    proc = _run_module("torch.distributed.run", args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    sums = summary["rank_checksums"]
    assert len(sums) == 2 and sums[0] == sums[1]
    # ranks saw different batches (a DistributedSampler split), yet their weights agree after each step
    assert summary["step"] == 3


def test_nan_loss_stops_training(cache_dir, tmp_path):
    from ropar_core.pvae import PVAE, PVAE_PRESETS, PVAEConfig
    from training.data.dataset import MotionDataset, collate

    model = PVAE(PVAEConfig(**PVAE_PRESETS["tiny"]))
    ds = MotionDataset(cache_dir, "train", crop_frames=32)
    calls = []

    def loss_fn(m, batch):
        calls.append(1)
        loss = sum(p.sum() for p in m.parameters()) * 0 + (float("nan") if len(calls) == 3 else 1.0)
        return loss, {}

    cfg = TrainConfig(steps=10, batch_size=2, ckpt_every=2, eval_every=0, log_every=1)
    with pytest.raises(engine.TrainingError, match="nan at step 2"):
        engine.train(model, loss_fn, ds, collate, cfg, tmp_path, engine.DistInfo())
    assert json.loads((tmp_path / "checkpoints" / "latest.json").read_text())["step"] == 2


def test_config_overrides(tmp_path):
    cfg = apply_overrides(TrainConfig(), {"steps": "12", "lr": 1e-3, "betas": [0.8, 0.9]}, "train")
    assert cfg.steps == 12 and cfg.lr == 1e-3 and cfg.betas == (0.8, 0.9)
    with pytest.raises(RoparError, match="unknown train setting 'stepz'"):
        apply_overrides(TrainConfig(), {"stepz": 1}, "train")
    with pytest.raises(RoparError, match="cannot use"):
        apply_overrides(TrainConfig(), {"steps": "many"}, "train")
    y = tmp_path / "c.yaml"
    y.write_text("train:\n  steps: 7\nmodel:\n  width: 48\n")
    assert load_yaml(y) == {"train": {"steps": 7}, "model": {"width": 48}}
    y.write_text("trian: {}\n")
    with pytest.raises(RoparError, match="sections"):
        load_yaml(y)


def test_lr_schedule_and_ema():
    cfg = TrainConfig(steps=100, warmup=10, lr=1.0, lr_min_ratio=0.1)
    assert engine.lr_at(0, cfg) == pytest.approx(0.1) and engine.lr_at(9, cfg) == pytest.approx(1.0)
    assert engine.lr_at(99, cfg) == pytest.approx(0.1, abs=1e-3)
    lin = torch.nn.Linear(2, 2)
    ema = engine.EMA(lin, decay=0.5)
    with torch.no_grad():
        lin.weight.add_(1.0)
    ema.update(lin, step=1000)
    avg = ema.copy_of(lin)
    assert torch.allclose(avg.weight, lin.weight - 0.5)


def test_ablations_train_end_to_end(cache_dir, tmp_path):
    """Full-body P-VAE (P=1) -> RoPAR follows it (P=1, full-body credibility) with the regression head."""
    from ropar_core.generator import Generator
    from training.train.train_pvae import main as train_pvae
    from training.train.train_ropar import main as train_ropar

    pv, rp = tmp_path / "pvae", tmp_path / "ropar"
    assert train_pvae(["--data", str(cache_dir), "--out", str(pv), "--steps", "2", "--eval-every", "0",
                       "--no-part-decomposition", *TINY]) == 0
    assert train_ropar(["--data", str(cache_dir), "--pvae", str(pv), "--out", str(rp), "--steps", "2",
                        "--eval-every", "0", "--crop-frames", "32", "--no-diffusion-head", *TINY]) == 0
    config = json.loads((rp / "config.json").read_text())
    assert config["pvae"]["part_decomposition"] is False
    assert config["ropar"]["part_decomposition"] is False and config["ropar"]["diffusion_head"] is False
    latents = checkpoint.load_weights(rp / "latents.safetensors")
    assert latents["z"].shape[1] == 1 and latents["credible"].shape[1] == 1
    [m] = Generator.from_pretrained(rp, device="cpu").generate("a man runs", frames=24, seed=0)
    assert m.joints.shape == (24, 22, 3) and np.isfinite(m.joints).all()


@pytest.mark.parametrize("name,text", [
    ("state.json", ""), ("state.json", "[1, 2]"), ("state.json", '{"step": "six"}'),
    ("state.json", "[" * 100_000), ("optim.json", '{"param_groups": 5}'), ("optim.json", "{}"),
    ("optim.json", "not json"),
])
def test_resume_from_a_corrupt_checkpoint_is_one_line(pvae_dir, cache_dir, tmp_path, capsys, name, text):
    import shutil

    from training.train.train_pvae import main

    out = tmp_path / "run"
    shutil.copytree(pvae_dir / "checkpoints", out / "checkpoints")
    step = out / "checkpoints" / "step_00000006"
    (step / name).write_text(text)
    args = ["--data", str(cache_dir), "--out", str(out), "--steps", "9", *TINY, "--resume"]
    assert main(args) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("train_pvae: error: checkpoint") and "Traceback" not in err, err
    assert "corrupt" in last or "invalid JSON" in last or "nested" in last, last


def test_ropar_text_encoder_given_by_name(pvae_dir, cache_dir, tmp_path):
    """`--text-encoder NAME` (a str, which has .encode too) loads that encoder instead of using the
    string as one."""
    from training.train.train_ropar import main

    out = tmp_path / "named"
    assert main(["--data", str(cache_dir), "--pvae", str(pvae_dir), "--steps", "1", "--crop-frames", "64",
                 "--eval-every", "0", "--text-encoder", "all-MiniLM-L6-v2", "--out", str(out), *TINY]) == 0
    assert json.loads((out / "config.json").read_text())["text_encoder"]
