"""`--init DIR`: fine-tuning the P-VAE and RoPAR from an existing model directory (how the shipped model
was retrained on the multi-source cache); reuses the tiny synthetic runs of test_training."""

import json

import numpy as np
import torch

from ropar_core import checkpoint
from tests.helpers.training_data import SOURCES, TINY


def _pvae_args(cache, out, steps):
    return ["--data", str(cache), "--out", str(out), "--steps", str(steps), "--ckpt-every", "50",
            "--eval-every", "0", *TINY]


def test_pvae_init_starts_from_the_weights_and_keeps_their_stats(pvae_dir, cache_dir, tmp_path):  # noqa: F811
    from training.train.train_pvae import main

    start = checkpoint.load_weights(pvae_dir / "pvae.safetensors")
    out = tmp_path / "ft"
    # zero steps of fine-tuning would be the same model; 1 step at a tiny lr stays next to it
    assert main(_pvae_args(cache_dir, out, 1) + ["--init", str(pvae_dir), "--lr", "1e-7"]) == 0
    tuned = checkpoint.load_weights(out / "pvae.safetensors")
    fresh_out = tmp_path / "fresh"
    assert main(_pvae_args(cache_dir, fresh_out, 1) + ["--lr", "1e-7", "--seed", "5"]) == 0
    fresh = checkpoint.load_weights(fresh_out / "pvae.safetensors")
    near = max(float((tuned[k] - start[k]).abs().max()) for k in start if start[k].is_floating_point())
    far = max(float((fresh[k] - start[k]).abs().max()) for k in start if start[k].is_floating_point())
    assert near < 1e-3 < far
    m0, s0 = checkpoint.load_stats(pvae_dir)
    m1, s1 = checkpoint.load_stats(out)
    assert np.array_equal(m0, m1) and np.array_equal(s0, s1)
    assert json.loads((out / "config.json").read_text())["train"]["init"] == str(pvae_dir)


def test_ropar_init_and_bad_init_dir(pvae_dir, cache_dir, tmp_path, capsys):  # noqa: F811
    from training.train.train_ropar import main

    args = ["--data", str(cache_dir), "--pvae", str(pvae_dir), "--steps", "1", "--ckpt-every", "50",
            "--eval-every", "0", "--crop-frames", "64", "--lr", "1e-7", *TINY]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    assert main(args + ["--out", str(tmp_path / "b"), "--init", str(tmp_path / "a")]) == 0
    a = checkpoint.load_weights(tmp_path / "a" / "ropar.safetensors")
    b = checkpoint.load_weights(tmp_path / "b" / "ropar.safetensors")
    skip = ("latent_mean", "latent_std")
    assert max(float((a[k] - b[k]).abs().max()) for k in a if not k.endswith(skip)) < 1e-3
    assert torch.equal(a["latent_mean"], b["latent_mean"])  # same P-VAE, same data: same stats
    assert main(args + ["--out", str(tmp_path / "c"), "--init", str(tmp_path / "missing")]) == 2
    assert "--init" in capsys.readouterr().err


def test_text_noise_per_source(pvae_dir, cache_dir, tmp_path, capsys):  # noqa: F811
    """--text-noise-source SOURCE=STD: the clips of that source carry the std into the loss, the others the
    model's text_noise; recorded with the model; an unknown source or a bad value is one line, exit 2."""
    from training.train.train_ropar import LatentDataset, collate_latents, main

    args = ["--data", str(cache_dir), "--pvae", str(pvae_dir), "--steps", "1", "--ckpt-every", "50",
            "--eval-every", "0", "--crop-frames", "64", *TINY]
    out = tmp_path / "noise"
    assert main(args + ["--out", str(out), "--text-noise-source", "web=0.3"]) == 0
    assert json.loads((out / "config.json").read_text())["train"]["text_noise_sources"] == {"web": 0.3}

    latents = {"tensors": checkpoint.load_weights(out / "latents.safetensors"),
               "index": json.loads((out / "latents.json").read_text())}
    for c in latents["index"]["clips"]:
        c["source"] = SOURCES[int(c["id"][1:]) % 2]  # as train() labels them from the cache
    ds = LatentDataset(latents, "train", 16, text_noise={"web": 0.3}, default_noise=0.05)
    stds = {ds.clips[i]["source"]: ds[i]["text_noise"] for i in range(len(ds))}
    assert stds == {"web": 0.3, "studio": 0.05}
    batch = collate_latents([ds[i] for i in range(4)])
    assert batch["text_noise"].shape == (4,)
    assert "text_noise" not in collate_latents([LatentDataset(latents, "train", 16)[0]])

    for bad, word in ((["--text-noise-source", "nowhere=0.1"], "nowhere"),
                      (["--text-noise-source", "web=-1"], "SOURCE=STD"),
                      (["--text-noise-source", "web"], "SOURCE=STD")):
        capsys.readouterr()
        assert main(args + ["--out", str(tmp_path / "bad")] + bad) == 2
        err = capsys.readouterr().err.strip()
        assert word in err and len(err.splitlines()) == 1
