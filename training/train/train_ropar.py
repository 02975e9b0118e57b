"""Train RoPAR on the latents of a frozen P-VAE.

    python -m training.train_ropar --data data/cache/noisy --pvae runs/pvae --out runs/ropar --preset small
    torchrun --nproc-per-node 4 -m training.train_ropar ...      (DistributedDataParallel)

First every clip of the cache is encoded once with the frozen P-VAE (mu, with its credibility masks, so
noisy cells never enter) and every caption with the frozen text encoder; both are kept in
<out>/latents.safetensors (reused while the P-VAE and the data stay the same). Then the transformer
trains on random windows of whole clips with the part-aware masking of Eq. 2.

The output directory becomes a complete model directory (config.json with "pvae", "ropar",
"text_encoder", "fps"; pvae.safetensors; ropar.safetensors with the EMA weights; stats.safetensors) that
`Generator.from_pretrained(<out>)` and `ropar generate --model <out>` load.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ropar_core import checkpoint as ckpt_io
from ropar_core import skeleton as sk
from ropar_core.atomic import write_text
from ropar_core.credibility import token_mask_from_frame_mask
from ropar_core.errors import RoparError, cli_error
from ropar_core.modeldir import load_pvae, save_model_dir
from ropar_core.ropar import DEFAULT_CFG_SCALE, DEFAULT_UNMASK_STEPS, ROPAR_PRESETS, RoPAR, RoPARConfig
from training.train import engine
from training.train.config import (
    TrainConfig,
    add_train_flags,
    apply_overrides,
    load_yaml,
    model_overrides,
    train_config,
)

LATENTS_VERSION = 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train_ropar",
                                description=__doc__.split("\n\n")[0])
    add_train_flags(p, ROPAR_PRESETS)
    p.add_argument("--pvae", required=True, help="P-VAE model directory (train_pvae output)")
    p.add_argument("--init", metavar="DIR", default=None,
                   help="start from this model directory's RoPAR weights (fine-tuning; latent stats are new)")
    p.add_argument("--text-encoder", default=None,
                   help="local Hugging Face model directory (default: all-MiniLM-L6-v2)")
    p.add_argument("--no-diffusion-head", action="store_true", help="ablation: direct regression head")
    p.add_argument("--token-rule", default="all", choices=("all", "majority"),
                   help="a token is credible when all / most of its 4 frames are")
    p.add_argument("--cfg", dest="cfg_scale", type=float, default=DEFAULT_CFG_SCALE,
                   help="default guidance scale stored with the model")
    p.add_argument("--text-noise-source", action="append", metavar="SOURCE=STD", default=None,
                   help="conditioning augmentation per data source (repeatable): the captions of SOURCE's "
                        "clips get this noise std, the other sources the model's text_noise")
    return p


def parse_source_noise(items: list[str] | None) -> dict[str, float]:
    """['cmu=0.04', 'deepmimic=0.04'] -> {'cmu': 0.04, 'deepmimic': 0.04}."""
    out = {}
    for item in items or []:
        src, sep, std = item.partition("=")
        try:
            value = float(std)
        except ValueError:
            value = float("nan")
        if not sep or not src or not value >= 0:
            raise RoparError(f"--text-noise-source expects SOURCE=STD with STD >= 0, got {item!r}")
        out[src] = value
    return out


# ---------------------------------------------------------------------------------------------
# Latent and text precomputation

@torch.no_grad()
def encode_cache(pvae, cache, text, token_rule: str, batch_texts: int = 256) -> dict:
    """Every clip -> mu tokens (T//4, P, C), token credibility (T//4, P), caption ids; every caption ->
    its text embedding. Returns a dict of tensors + a JSON-able index."""
    dev = pvae.feat_mean.device
    mean, std = pvae.feat_mean, pvae.feat_std
    zs, creds, clips, captions = [], [], [], {}
    start = 0
    for i, clip in enumerate(cache.clips):
        T = clip["length"] // sk.TOKEN_FRAMES * sk.TOKEN_FRAMES
        if T < sk.TOKEN_FRAMES:
            continue
        x = (torch.tensor(cache.clip_features(i)[:T]).to(dev) - mean) / std  # (T, 263)
        fm = cache.clip_credible(i)[:T]  # (T, 5)
        mu, _ = pvae.encode(x[None], torch.tensor(fm).to(dev)[None])  # (1, N, P, C)
        tm = token_mask_from_frame_mask(fm, token_rule, drop_partial=True)  # (N, 5)
        if not pvae.cfg.part_decomposition:
            tm = tm.all(-1, keepdims=True)  # a full-body token is credible only with every part
        zs.append(mu[0].cpu())
        creds.append(torch.tensor(tm))
        ids = [captions.setdefault(t, len(captions)) for t in clip["texts"]] or [captions.setdefault("", 0)]
        clips.append({"id": clip["id"], "split": clip["split"], "start": start, "tokens": int(mu.shape[1]),
                      "texts": ids, "repeat": int(clip.get("repeat", 1))})
        start += int(mu.shape[1])
    texts = list(captions)
    by_length = sorted(texts, key=len)  # batches of similar length: little padding (the slow part)
    vectors = {}
    for a in range(0, len(by_length), batch_texts):
        chunk = by_length[a:a + batch_texts]
        vectors.update(zip(chunk, text.encode(chunk).cpu()))
    emb = torch.stack([vectors[t] for t in texts])  # (U, D) in caption-id order
    tensors = {"z": torch.cat(zs).float(), "credible": torch.cat(creds).to(torch.uint8), "text_emb": emb}
    return {"tensors": tensors, "index": {"clips": clips, "texts": texts}}


def load_or_encode(out_dir: Path, pvae, cache, text, token_rule: str, dist: engine.DistInfo) -> dict:
    """Latents for this (P-VAE, data, text encoder, rule), computed once by the main process."""
    key = {"version": LATENTS_VERSION, "pvae": engine.param_checksum(pvae),
           "data": str(Path(cache.path).resolve()), "frames": cache.meta.get("num_frames"),
           "text_encoder": text.name, "token_rule": token_rule}
    tfile, jfile = out_dir / "latents.safetensors", out_dir / "latents.json"

    def fresh():
        if not (tfile.is_file() and jfile.is_file()):
            return False
        try:
            return json.loads(jfile.read_text())["key"] == key
        except (ValueError, KeyError):
            return False

    if dist.is_main and not fresh():
        out_dir.mkdir(parents=True, exist_ok=True)
        print(f"encoding {len(cache.clips)} clips with the P-VAE and their captions ...", file=sys.stderr)
        data = encode_cache(pvae, cache, text, token_rule)
        ckpt_io.save_weights(tfile, data["tensors"])
        write_text(jfile, json.dumps({"key": key, **data["index"]}) + "\n")
    engine.barrier(dist)
    index = json.loads(jfile.read_text())
    return {"tensors": ckpt_io.load_weights(tfile), "index": index}


def latent_stats(latents: dict, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-(part, channel) mean/std of the credible tokens of `split`."""
    z, cred = latents["tensors"]["z"], latents["tensors"]["credible"].bool()
    rows = torch.zeros(len(z), dtype=torch.bool)
    for c in latents["index"]["clips"]:
        if c["split"] == split:
            rows[c["start"]:c["start"] + c["tokens"]] = True
    w = (cred & rows[:, None]).float().unsqueeze(-1)  # (M, P, 1)
    n = w.sum(0).clamp_min(1.0)
    mean = (z * w).sum(0) / n
    std = (((z - mean) ** 2 * w).sum(0) / n).sqrt()
    return mean, std


class LatentDataset(Dataset):
    """Random windows (up to crop_tokens) of one split's latent clips; the randomness comes from
    (seed, epoch, index) only."""

    def __init__(self, latents: dict, split: str, crop_tokens: int, seed: int = 0, min_tokens: int = 2,
                 random_crop: bool | None = None, text_noise: dict[str, float] | None = None,
                 default_noise: float = 0.0):
        """text_noise: per source, the conditioning augmentation's std for its clips' captions (the
        others get default_noise); None: items carry no per-sample noise (the model's own applies)."""
        self.z = latents["tensors"]["z"]
        self.credible = latents["tensors"]["credible"].bool()
        self.text_emb = latents["tensors"]["text_emb"]
        self.clips = [c for c in latents["index"]["clips"]
                      if c["split"] == split and c["tokens"] >= min_tokens]
        if not self.clips:
            raise RoparError(f"no {split} clip with at least {min_tokens} latent tokens")
        if split == "train":  # per-source sampling weights: a clip with repeat k is drawn k times an epoch
            self.clips = [c for c in self.clips for _ in range(int(c.get("repeat", 1)))]
        self.crop = crop_tokens
        self.seed = seed
        self.epoch = 0
        self.random_crop = split == "train" if random_crop is None else random_crop
        self.text_noise, self.default_noise = text_noise, float(default_noise)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, idx: int) -> dict:
        c = self.clips[idx]
        rng = np.random.default_rng([self.seed, self.epoch if self.random_crop else 0, idx])
        n = min(c["tokens"], self.crop)
        a = c["start"] + int(rng.integers(0, c["tokens"] - n + 1))
        t = c["texts"][int(rng.integers(len(c["texts"])))]
        item = {"z": self.z[a:a + n], "credible": self.credible[a:a + n], "text_emb": self.text_emb[t]}
        if self.text_noise is not None:
            item["text_noise"] = self.text_noise.get(c.get("source", ""), self.default_noise)
        return item


def collate_latents(items: list[dict]) -> dict:
    """Pad to the longest window: z (B, N, P, C), token_mask (B, N, P), valid (B, N), text_emb (B, D)."""
    N = max(len(it["z"]) for it in items)
    B, (P, C) = len(items), items[0]["z"].shape[1:]
    z = torch.zeros(B, N, P, C)
    cred = torch.zeros(B, N, P, dtype=torch.bool)
    valid = torch.zeros(B, N, dtype=torch.bool)
    for b, it in enumerate(items):
        n = len(it["z"])
        z[b, :n], cred[b, :n], valid[b, :n] = it["z"], it["credible"], True
    text_emb = torch.stack([it["text_emb"] for it in items])
    batch = {"z": z, "token_mask": cred, "valid": valid, "text_emb": text_emb}
    if "text_noise" in items[0]:  # per-sample conditioning augmentation (B,)
        batch["text_noise"] = torch.tensor([it["text_noise"] for it in items], dtype=torch.float32)
    return batch


def ropar_loss(model: RoPAR, batch: dict):
    dev = model.device
    noise = batch.get("text_noise")
    return model.loss(batch["z"].to(dev), batch["token_mask"].to(dev), batch["valid"].to(dev),
                      batch["text_emb"].to(dev), text_noise=None if noise is None else noise.to(dev))


@torch.no_grad()
def evaluate_loss(model: RoPAR, dataset: LatentDataset, batch_size: int = 32, seed: int = 0) -> dict:
    """Held-out masked-token loss with a fixed generator (comparable between evaluations)."""
    model.eval()
    g = torch.Generator(device=model.device).manual_seed(seed)
    total = n = 0.0
    for a in range(0, len(dataset), batch_size):
        batch = collate_latents([dataset[i] for i in range(a, min(len(dataset), a + batch_size))])
        dev = model.device
        loss, logs = model.loss(batch["z"].to(dev), batch["token_mask"].to(dev), batch["valid"].to(dev),
                                batch["text_emb"].to(dev), generator=g)
        total += float(loss) * float(logs["loss_tokens"])
        n += float(logs["loss_tokens"])
    return {"val_loss": total / max(n, 1.0), "val_tokens": n}


# ---------------------------------------------------------------------------------------------

def train_defaults(preset: str = "small") -> TrainConfig:
    """RoPAR's optimiser and crops (the same for every size preset): whole clips up to 196 frames
    (49 tokens), like MARDM's crops."""
    return TrainConfig(steps=50000, lr=2e-4, weight_decay=1e-5, crop_frames=196)


def model_config(preset: str, pvae_cfg, text_dim: int, crop_tokens: int,
                 overrides: dict | None = None) -> RoPARConfig:
    """A size preset fitted to the P-VAE (latent size, parts) and the text encoder, with overrides."""
    base = RoPARConfig(**ROPAR_PRESETS[preset], latent_dim=pvae_cfg.latent_dim, text_dim=text_dim,
                       part_decomposition=pvae_cfg.part_decomposition, max_time_tokens=crop_tokens)
    mcfg = apply_overrides(base, overrides or {}, "RoPAR")
    if mcfg.max_time_tokens < crop_tokens:
        raise RoparError(f"max_time_tokens {mcfg.max_time_tokens} < crop of {crop_tokens} tokens")
    return mcfg


def init_from(model: RoPAR, init_dir: str | Path) -> None:
    """Copy a model directory's RoPAR weights into `model` (same architecture)."""
    try:
        model.load_state_dict(ckpt_io.load_weights(Path(init_dir) / "ropar.safetensors"))
    except (RoparError, OSError, RuntimeError) as exc:
        raise RoparError(f"--init {init_dir}: cannot start from it ({str(exc).splitlines()[0]})") from None


def train(cfg: TrainConfig, cache: str | Path, pvae_dir: str | Path, out: str | Path, *,
          preset: str = "small", overrides: dict | None = None, text_encoder=None, token_rule: str = "all",
          cfg_scale: float = DEFAULT_CFG_SCALE, resume: bool = False, command: str | None = None,
          init: str | Path | None = None, text_noise_sources: dict[str, float] | None = None) -> dict:
    """Train RoPAR on the latents of the frozen P-VAE in `pvae_dir`; `out` becomes a complete model
    directory. overrides: RoPAR config fields changed from the preset. text_encoder: a loaded
    TextEncoder to reuse, or a model name/directory (None: the default). cfg_scale: the guidance scale
    stored as the model's default. text_noise_sources: per data source, the conditioning augmentation's
    std for its captions (other sources: the model's text_noise). Returns the summary."""
    from ropar_core.text import TextEncoder
    from training.data.cache import Cache

    if cfg.crop_frames % sk.TOKEN_FRAMES:
        raise RoparError(f"--crop-frames must be a multiple of {sk.TOKEN_FRAMES}")
    dist = engine.setup_distributed(cfg.device)
    try:
        pvae, mean, std = load_pvae(pvae_dir, dist.device)
        pvae.requires_grad_(False)
        # a name or directory (str has .encode too) is loaded; anything else is a loaded encoder
        named = text_encoder is None or isinstance(text_encoder, (str, Path))
        text = TextEncoder(text_encoder, device="cpu") if named else text_encoder
        crop_tokens = cfg.crop_frames // sk.TOKEN_FRAMES
        mcfg = model_config(preset, pvae.cfg, text.dim, crop_tokens, overrides)

        data = Cache(cache)
        out = Path(out)
        source = {c["id"]: c.get("source", "") for c in data.clips}
        unknown = sorted(set(text_noise_sources or {}) - set(source.values()))
        if unknown:
            raise RoparError(f"--text-noise-source: no clip of source {', '.join(unknown)} in {cache} "
                             f"(sources: {', '.join(sorted(set(source.values())))})")
        latents = load_or_encode(out, pvae, data, text, token_rule, dist)
        for c in latents["index"]["clips"]:
            c["source"] = source.get(c["id"], "")
        dataset = LatentDataset(latents, "train", crop_tokens, seed=cfg.seed, text_noise=text_noise_sources,
                                default_noise=mcfg.text_noise)
        val_split = "val" if any(c["split"] == "val" for c in latents["index"]["clips"]) else "test"
        val_set = LatentDataset(latents, val_split, crop_tokens, seed=cfg.seed)

        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        model = RoPAR(mcfg)
        if init is not None:
            init_from(model, init)
        model.set_latent_stats(*latent_stats(latents, "train"))  # after init: the latents are this P-VAE's
        model.to(dist.device)

        def eval_fn(ema_model, step):
            return evaluate_loss(ema_model, val_set, seed=cfg.seed)

        summary, ema = engine.train(model, ropar_loss, dataset, collate_latents, cfg, out, dist,
                                    resume=resume, eval_fn=eval_fn, find_unused=True,
                                    progress_desc="RoPAR")
        if dist.is_main and summary["stopped"]:
            print(f"stopped at step {summary['step']}; continue with --resume", file=sys.stderr)
        elif dist.is_main:
            final = ema.copy_of(model).cpu()
            train_info = {"data": str(cache), "pvae": str(pvae_dir), "preset": preset,
                          "init": init and str(init), "text_noise_sources": text_noise_sources or {},
                          "steps": summary["step"], "config": cfg.to_dict(), "token_rule": token_rule,
                          "command": command or "(called from Python)",
                          "pvae_train": ckpt_io.load_config(pvae_dir).get("train", {})}
            save_model_dir(out, pvae.cpu(), mean, std, ropar=final, text_encoder=text.name,
                           train=train_info, sampling={"cfg": cfg_scale, "steps": DEFAULT_UNMASK_STEPS})
            summary.update(train=train_info, parameters=sum(p.numel() for p in model.parameters()))
            engine.write_summary(out / "summary.json", summary)
            if summary["eval"]:
                print(f"held-out ({val_split}) masked-token loss {summary['eval']['val_loss']:.4f}")
            print(f"model directory: {out}")
        return summary
    finally:
        engine.teardown_distributed(dist)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = " ".join(["python -m training.train_ropar"] + (sys.argv[1:] if argv is None else argv))
    try:
        yaml_cfg = load_yaml(args.config)
        cfg = train_config(train_defaults(args.preset), yaml_cfg["train"], vars(args))
        overrides = model_overrides(yaml_cfg["model"], args.set,
                                    diffusion_head=False if args.no_diffusion_head else None)
        train(cfg, args.data, args.pvae, args.out, preset=args.preset, overrides=overrides,
              text_encoder=args.text_encoder, token_rule=args.token_rule, cfg_scale=args.cfg_scale,
              resume=args.resume, command=command, init=args.init,
              text_noise_sources=parse_source_noise(args.text_noise_source))
    except RoparError as exc:
        return cli_error("train_ropar", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
