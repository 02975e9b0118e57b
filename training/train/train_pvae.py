"""Train the part-aware VAE on a dataset cache.

    python -m training.train_pvae --data data/cache/noisy --out runs/pvae --preset small [--steps N]
    torchrun --nproc-per-node 4 -m training.train_pvae ...      (DistributedDataParallel)

The output directory ends up a P-VAE model directory (config.json, pvae.safetensors with the EMA
weights, stats.safetensors) that `train_ropar --pvae` and `ropar reconstruct --model` read, next to
checkpoints/ (for --resume), tb/ (TensorBoard), metrics.jsonl and summary.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ropar_core import skeleton as sk
from ropar_core.errors import RoparError, cli_error
from ropar_core.modeldir import save_model_dir
from ropar_core.pvae import PVAE, PVAE_PRESETS, PVAEConfig, local_joints, recover_from_ric
from training.train import engine
from training.train.config import (
    TrainConfig,
    add_train_flags,
    apply_overrides,
    load_yaml,
    model_overrides,
    train_config,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train_pvae", description=__doc__.split("\n\n")[0])
    add_train_flags(p, PVAE_PRESETS)
    p.add_argument("--no-part-decomposition", action="store_true", help="ablation: one full-body token")
    p.add_argument("--no-shared-parameters", action="store_true", help="ablation: one codec per part")
    p.add_argument("--eval-clips", type=int, default=200, help="held-out clips used for MPJPE")
    p.add_argument("--init", metavar="DIR", default=None,
                   help="start from this model directory's P-VAE weights and normalisation (fine-tuning)")
    return p


def train_defaults(preset: str = "small") -> TrainConfig:
    """The P-VAE's optimiser and crops (the same for every size preset)."""
    return TrainConfig(steps=20000, lr=2e-4, crop_frames=64)


def model_config(preset: str, overrides: dict | None = None) -> PVAEConfig:
    """A size preset with overrides (YAML model section, --set, ablations) applied."""
    return apply_overrides(PVAEConfig(**PVAE_PRESETS[preset]), overrides or {}, "P-VAE")


def pvae_loss(model: PVAE, batch: dict):
    dev = model.feat_mean.device
    return model.loss(batch["features"].to(dev), batch["frame_mask"].to(dev), batch["valid"].to(dev))


def whole_clips(cache, split: str, limit: int | None):
    """Held-out clips as (noisy features, credibility, clean features), floored to whole tokens."""
    for n, i in enumerate(cache.indices(split)):
        if limit is not None and n >= limit:
            return
        T = cache.clips[i]["length"] // sk.TOKEN_FRAMES * sk.TOKEN_FRAMES
        if T >= 2 * sk.TOKEN_FRAMES:
            yield cache.clip_features(i)[:T], cache.clip_credible(i)[:T], cache.clip_clean_features(i)[:T]


@torch.no_grad()
def evaluate_mpjpe(model: PVAE, cache, split: str = "val", limit: int | None = 200) -> dict:
    """Held-out reconstruction of the CLEAN motion (mu, all parts credible): MPJPE in mm with the root
    path integrated over the whole clip (global) and per frame around the root (local); plus the
    error on the credible cells when the noisy version goes in with its masks."""
    model.eval()
    dev = model.feat_mean.device
    mean, std = model.feat_mean, model.feat_std
    g_sum = l_sum = n_frames = 0.0
    c_sum = c_n = 0.0
    for feats, cred, clean in whole_clips(cache, split, limit):
        x = ((torch.tensor(clean).to(dev) - mean) / std)[None]  # (1, T, 263)
        rec = model.reconstruct(x) * std + mean
        true = x * std + mean
        g_sum += float((recover_from_ric(rec) - recover_from_ric(true)).norm(dim=-1).mean(-1).sum())
        l_sum += float((local_joints(rec) - local_joints(true)).norm(dim=-1).mean(-1).sum())
        n_frames += x.shape[1]
        # noisy input: error of the joints of credible parts, against the clean truth
        xn = ((torch.tensor(feats).to(dev) - mean) / std)[None]
        fm = torch.tensor(cred).to(dev)[None]
        recn = model.reconstruct(xn, fm) * std + mean
        err = (local_joints(recn) - local_joints(true)).norm(dim=-1)[0]  # (T, 22)
        jmask = (fm[0].float() @ model.joint_parts.float()) > 0  # (T, 22) joints of credible parts
        c_sum += float(err[jmask].sum())
        c_n += float(jmask.sum())
    if n_frames == 0:
        return {}
    return {"mpjpe_mm": 1000 * g_sum / n_frames, "local_mpjpe_mm": 1000 * l_sum / n_frames,
            "credible_mpjpe_mm": 1000 * c_sum / max(c_n, 1.0), "frames": n_frames}


def init_from(model: PVAE, init_dir: str | Path) -> tuple:
    """Copy a model directory's P-VAE weights into `model` (same architecture; the loss weights may
    differ) -> its (mean, std): fine-tuned weights only make sense with the normalisation they learnt."""
    from ropar_core.errors import ModelError
    from ropar_core.modeldir import load_pvae

    try:
        start, mean, std = load_pvae(init_dir)
        model.load_state_dict(start.state_dict())
    except (ModelError, RuntimeError) as exc:
        raise RoparError(f"--init {init_dir}: cannot start from it ({str(exc).splitlines()[0]})") from None
    return mean, std


def train(cfg: TrainConfig, model_cfg: PVAEConfig, cache: str | Path, out: str | Path, *,
          resume: bool = False, eval_clips: int = 200, preset: str | None = None,
          command: str | None = None, init: str | Path | None = None) -> dict:
    """Train a P-VAE on the cache directory `cache`; `out` becomes a P-VAE model directory. Returns the
    training summary (also written to out/summary.json). preset/command are recorded in config.json.
    init: a model directory to fine-tune from (its weights and normalisation stats)."""
    from training.data.cache import Cache
    from training.data.dataset import MotionDataset, collate

    dist = engine.setup_distributed(cfg.device)
    try:
        data = Cache(cache)
        mean, std = data.mean, data.std
        dataset = MotionDataset(data, "train", crop_frames=cfg.crop_frames, seed=cfg.seed)
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        model = PVAE(model_cfg)
        if init is not None:
            mean, std = init_from(model, init)
        model.set_stats(mean, std)
        model.to(dist.device)
        eval_split = "val" if data.indices("val") else "test"

        def eval_fn(ema_model, step):
            return evaluate_mpjpe(ema_model, data, eval_split, eval_clips)

        summary, ema = engine.train(model, pvae_loss, dataset, collate, cfg, out, dist,
                                    resume=resume, eval_fn=eval_fn, progress_desc="P-VAE")
        if dist.is_main and summary["stopped"]:
            print(f"stopped at step {summary['step']}; continue with --resume", file=sys.stderr)
        elif dist.is_main:
            final = ema.copy_of(model)
            train_info = {"data": str(cache), "preset": preset, "steps": summary["step"],
                          "init": init and str(init),
                          "config": cfg.to_dict(), "eval_split": eval_split,
                          "command": command or "(called from Python)"}
            save_model_dir(out, final.cpu(), mean, std, train=train_info)
            summary["eval"] = summary["eval"] or evaluate_mpjpe(final, data, eval_split, eval_clips)
            summary.update(train=train_info, parameters=sum(p.numel() for p in model.parameters()))
            engine.write_summary(Path(out) / "summary.json", summary)
            ev = summary["eval"]
            if ev:
                print(f"held-out ({eval_split}) MPJPE {ev['mpjpe_mm']:.1f} mm (root-relative "
                      f"{ev['local_mpjpe_mm']:.1f} mm; noisy input, credible parts "
                      f"{ev['credible_mpjpe_mm']:.1f} mm)")
        return summary
    finally:
        engine.teardown_distributed(dist)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = " ".join(["python -m training.train_pvae"] + (sys.argv[1:] if argv is None else argv))
    try:
        yaml_cfg = load_yaml(args.config)
        cfg = train_config(train_defaults(args.preset), yaml_cfg["train"], vars(args))
        overrides = model_overrides(yaml_cfg["model"], args.set,
                                    part_decomposition=False if args.no_part_decomposition else None,
                                    shared_parameters=False if args.no_shared_parameters else None)
        train(cfg, model_config(args.preset, overrides), args.data, args.out, resume=args.resume,
              eval_clips=args.eval_clips, preset=args.preset, command=command, init=args.init)
    except RoparError as exc:
        return cli_error("train_pvae", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
