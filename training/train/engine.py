"""Training-loop pieces shared by every trainer (train_pvae, train_ropar, train_evaluator).

* `setup_distributed`: one plain process, or `torchrun --nproc-per-node N` (DDP; gloo on CPU, nccl on
  CUDA).
* `EMA`, `lr_at` (warm-up + cosine); devices and bf16 autocast come from `ropar_core.device`.
* `Checkpoints`: model + EMA + optimizer + step + every RNG state as safetensors + JSON (no pickle), one
  directory per checkpoint, written under a temporary name and renamed, `latest.json` updated last.
  Batches are a pure function of (seed, epoch, position), so `--resume` continues exactly where a
  killed run stopped: N straight steps and N/2 + resume + N/2 give identical weights.
* `train`: the loop itself (tqdm, TensorBoard, grad clipping, NaN/inf stop, periodic eval and checkpoints).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from ropar_core import checkpoint as ckpt_io
from ropar_core.atomic import replace_dir, write_text
from ropar_core.device import autocast, resolve_device
from ropar_core.errors import ModelError, RoparError
from ropar_core.limits import read_json_file
from training.train.config import TrainConfig


class TrainingError(RoparError):
    """Training cannot go on (diverged, data too small, bad resume state)."""


# ---------------------------------------------------------------------------------------------
# Devices and processes

@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup_distributed(device: str = "auto") -> DistInfo:
    """Read torchrun's environment; start the process group when there is more than one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world > 1 and not torch_dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        torch_dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world, local_rank, dev)


def teardown_distributed(dist: DistInfo) -> None:
    if dist.active and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def barrier(dist: DistInfo) -> None:
    if dist.active:
        torch_dist.barrier()


# ---------------------------------------------------------------------------------------------
# EMA and learning rate

class EMA:
    """Exponential moving average of a module's parameters (buffers copied as they are)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))  # short warm-up so early weights fade fast
        params = dict(model.named_parameters())
        for k, v in model.state_dict().items():
            if k in params and v.dtype.is_floating_point:
                self.shadow[k].mul_(d).add_(v.detach().float(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.shadow) ^ set(state)
        if missing:
            raise ModelError(f"EMA state does not match the model (keys {sorted(missing)[:3]} ...)")
        self.shadow = {k: v.clone().float() if v.dtype.is_floating_point else v.clone()
                       for k, v in state.items()}

    def copy_of(self, model: nn.Module) -> nn.Module:
        """A deep copy of `model` carrying the averaged weights, in eval mode."""
        out = copy.deepcopy(model)
        out.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in self.shadow.items()})
        return out.eval()


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine from lr down to lr * lr_min_ratio at the last step."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(1, cfg.steps - cfg.warmup)
    progress = min(1.0, (step - cfg.warmup) / span)
    return cfg.lr * (cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def param_checksum(model: nn.Module) -> str:
    """sha256 over every parameter's bytes (used to show DDP ranks end with identical weights)."""
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# RNG and optimizer state as safetensors + JSON

def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(keys.astype(np.int64))
    version, internal, gauss = random.getstate()
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(cached)],
            "python": [version, list(internal), gauss]}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("cuda")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, tensors["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))


def optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, v in list(tensors.items()) + list(meta["scalars"].items()):
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in meta["param_groups"]]
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as exc:
        raise ModelError(f"optimizer state does not match the model: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Checkpoints

class Checkpoints:
    """<out>/checkpoints/step_00001234/{model,ema,optim,rng_rank<r>}.safetensors + state.json,
    <out>/checkpoints/latest.json -> the newest complete one."""

    def __init__(self, out_dir: str | Path, dist: DistInfo, keep: int = 2):
        self.root = Path(out_dir) / "checkpoints"
        self.dist = dist
        self.keep = keep

    def latest(self) -> Path | None:
        pointer = self.root / "latest.json"
        if not pointer.is_file():
            return None
        data = read_json_file(pointer, error=ModelError)
        name = data.get("dir") if isinstance(data, dict) else None
        if not isinstance(name, str) or not name.startswith("step_") or "/" in name or "\\" in name:
            raise ModelError(f"{pointer} is corrupt; delete it or start without --resume")
        path = self.root / name
        if not (path / "state.json").is_file():
            raise ModelError(f"{pointer} points at {path}, which is incomplete")
        return path

    def save(self, step: int, model: nn.Module, ema: EMA, opt: torch.optim.Optimizer, extra: dict) -> Path:
        name = f"step_{step:08d}"
        tmp = self.root / f".tmp_{name}"
        if self.dist.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        barrier(self.dist)
        rng_t, rng_meta = rng_state()  # every rank has its own stream (dropout, masks, noise)
        ckpt_io.save_weights(tmp / f"rng_rank{self.dist.rank}.safetensors", rng_t)
        write_text(tmp / f"rng_rank{self.dist.rank}.json", json.dumps(rng_meta))
        if self.dist.is_main:
            ckpt_io.save_weights(tmp / "model.safetensors", model.state_dict())
            ckpt_io.save_weights(tmp / "ema.safetensors", ema.state_dict())
            opt_t, opt_meta = optimizer_state(opt)
            ckpt_io.save_weights(tmp / "optim.safetensors", opt_t)
            write_text(tmp / "optim.json", json.dumps(opt_meta))
        barrier(self.dist)
        final = self.root / name
        if self.dist.is_main:
            state = {"step": step, "world": self.dist.world, **extra}
            write_text(tmp / "state.json", json.dumps(state, indent=1))
            shutil.rmtree(final, ignore_errors=True)
            replace_dir(tmp, final)  # every file in it was fsynced by atomic_path
            write_text(self.root / "latest.json", json.dumps({"dir": name, "step": step}) + "\n")
            self._prune(keep_name=name)
        barrier(self.dist)
        return final

    def _prune(self, keep_name: str) -> None:
        done = sorted(p for p in self.root.glob("step_*") if p.is_dir())
        for old in done[: max(0, len(done) - self.keep)]:
            if old.name != keep_name:
                shutil.rmtree(old, ignore_errors=True)

    def load(self, path: Path, model: nn.Module, ema: EMA, opt: torch.optim.Optimizer) -> dict:
        """Restore everything; returns state.json (with "step"). A corrupt or hand-edited checkpoint
        is one ModelError naming it, never a traceback."""
        try:
            return self._load(path, model, ema, opt)
        except ModelError as exc:
            raise ModelError(f"checkpoint {path} is unusable: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as exc:
            raise ModelError(f"checkpoint {path} is corrupt ({type(exc).__name__}: {str(exc)[:120]}); "
                             "delete it or start without --resume") from None

    def _load(self, path: Path, model: nn.Module, ema: EMA, opt: torch.optim.Optimizer) -> dict:
        state = read_json_file(path / "state.json", error=ModelError)
        step = state.get("step") if isinstance(state, dict) else None
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ModelError(f"{path}/state.json is corrupt (no whole 'step' >= 0)")
        ckpt_io.load_module_weights(model, path / "model.safetensors")
        ema.load_state_dict(ckpt_io.load_weights(path / "ema.safetensors"))
        load_optimizer_state(opt, ckpt_io.load_weights(path / "optim.safetensors"),
                             read_json_file(path / "optim.json", error=ModelError))
        rng_file = path / f"rng_rank{self.dist.rank}.safetensors"
        if state.get("world") == self.dist.world and rng_file.is_file():
            set_rng_state(ckpt_io.load_weights(rng_file),
                          read_json_file(path / f"rng_rank{self.dist.rank}.json", error=ModelError))
        else:  # another number of processes: the data order still resumes exactly, the RNG streams not
            torch.manual_seed(step * 7919 + self.dist.rank)
        return state


# ---------------------------------------------------------------------------------------------
# The loop

class _LossModule(nn.Module):
    """Routes the loss through forward() so DistributedDataParallel sees the call."""

    def __init__(self, model: nn.Module, loss_fn):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch):
        return self.loss_fn(self.model, batch)


def epoch_batches(n_items: int, cfg: TrainConfig, dist: DistInfo, epoch: int) -> list[list[int]]:
    """This rank's batches (lists of dataset indices) for one epoch; a pure function of
    (seed, epoch, rank): the thing that makes resuming exact."""
    sampler = DistributedSampler(range(n_items), num_replicas=dist.world, rank=dist.rank, shuffle=True,
                                 seed=cfg.seed, drop_last=True)
    sampler.set_epoch(epoch)
    idx = list(sampler)
    B = cfg.batch_size
    return [idx[i:i + B] for i in range(0, len(idx) - B + 1, B)]


class _Logger:
    def __init__(self, out_dir: Path, dist: DistInfo):
        self.enabled = dist.is_main
        self.path = out_dir / "metrics.jsonl"
        self.tb = None
        if self.enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out_dir / "tb"))
            except ImportError:
                print("tensorboard is not installed: logging to metrics.jsonl only", file=sys.stderr)

    def log(self, step: int, values: dict) -> None:
        if not self.enabled:
            return
        clean = {k: float(v) for k, v in values.items()}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, **clean}) + "\n")
        if self.tb is not None:
            for k, v in clean.items():
                self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _all_reduce_mean(values: dict, dist: DistInfo, device) -> dict:
    if not dist.active:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], device=device)
    torch_dist.all_reduce(t)
    return {k: v / dist.world for k, v in zip(keys, t.tolist())}


def train(model: nn.Module, loss_fn, dataset, collate_fn, cfg: TrainConfig, out_dir: str | Path,
          dist: DistInfo, resume: bool = False, eval_fn=None, find_unused: bool = False,
          progress_desc: str = "train") -> tuple[dict, EMA]:
    """Train `model` (already on dist.device) with loss_fn(model, batch) -> (loss, logs).

    eval_fn(ema_model, step) -> dict is called on the main process every cfg.eval_every steps and at
    the end. Returns (summary, ema): the summary holds the final step, the last logs, the last eval
    and every rank's weight checksum."""
    out_dir = Path(out_dir)
    if dist.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    barrier(dist)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    steps_per_epoch = len(dataset) // dist.world // cfg.batch_size
    if steps_per_epoch == 0:
        raise TrainingError(f"{len(dataset)} training items are too few for batch size {cfg.batch_size} "
                            f"x {dist.world} process(es); lower --batch-size")

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas),
                            weight_decay=cfg.weight_decay)
    ema = EMA(model, cfg.ema_decay)
    checkpoints = Checkpoints(out_dir, dist, keep=cfg.keep_checkpoints)
    step = 0
    latest = checkpoints.latest() if resume else None
    if latest is not None:
        step = int(checkpoints.load(latest, model, ema, opt)["step"])
        if dist.is_main:
            print(f"resumed from {latest} (step {step})", file=sys.stderr)
    else:
        if resume and dist.is_main:
            print(f"--resume: no checkpoint in {out_dir}, starting from scratch", file=sys.stderr)
        torch.manual_seed(cfg.seed * 1000 + dist.rank)  # per-rank streams for dropout, masks, noise
        np.random.seed(cfg.seed * 1000 + dist.rank)
        random.seed(cfg.seed * 1000 + dist.rank)

    wrapped: nn.Module = _LossModule(model, loss_fn)
    if dist.active:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [dist.device.index] if dist.device.type == "cuda" else None
        wrapped = DDP(wrapped, device_ids=ids, find_unused_parameters=find_unused)
    logger = _Logger(out_dir, dist)
    bar = None
    if dist.is_main:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc=progress_desc, mininterval=2.0, dynamic_ncols=True)
    evals: dict = {}
    last_logs: dict = {}
    saved_at = step
    t_last = time.perf_counter()
    model.train()
    try:
        while step < cfg.steps:
            epoch, skip = divmod(step, steps_per_epoch)
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            batches = epoch_batches(len(dataset), cfg, dist, epoch)[skip:steps_per_epoch]
            # a private generator: creating a loader iterator must not consume the global RNG
            loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate_fn,
                                num_workers=cfg.num_workers, generator=torch.Generator().manual_seed(epoch))
            for batch in loader:
                for group in opt.param_groups:
                    group["lr"] = lr_at(step, cfg)
                with autocast(dist.device):
                    loss, logs = wrapped(batch)
                bad = torch.tensor(0.0 if torch.isfinite(loss.detach()) else 1.0, device=dist.device)
                if dist.active:
                    torch_dist.all_reduce(bad)
                if bad.item() > 0:
                    where = checkpoints.latest()
                    raise TrainingError(f"loss became {loss.item()} at step {step}; stopped "
                                        f"(last good checkpoint: {where or 'none'}); try a lower --lr")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                ema.update(model, step)
                step += 1
                if step % cfg.log_every == 0 or step == cfg.steps:
                    values = {"loss": loss.detach(), "grad_norm": grad_norm, **logs}
                    values = _all_reduce_mean({k: float(v) for k, v in values.items()}, dist, dist.device)
                    now = time.perf_counter()
                    values.update(lr=lr_at(step - 1, cfg), sec_per_step=(now - t_last) / cfg.log_every)
                    t_last = now
                    logger.log(step, values)
                    last_logs = values
                    if bar is not None:
                        bar.set_postfix({k: f"{values[k]:.4g}" for k in list(values)[:4]}, refresh=False)
                if bar is not None:
                    bar.update(1)
                if step % cfg.ckpt_every == 0 or step == cfg.steps:
                    checkpoints.save(step, model, ema, opt, {"epoch": epoch})
                    saved_at = step
                if eval_fn is not None and dist.is_main and cfg.eval_every and (
                        step % cfg.eval_every == 0 or step == cfg.steps):
                    with torch.random.fork_rng(devices=[]):  # evaluation must not shift the training RNG
                        evals = eval_fn(ema.copy_of(model), step)
                    numbers = {f"eval/{k}": v for k, v in evals.items() if isinstance(v, (int, float))}
                    logger.log(step, numbers)
                    model.train()
                if step >= cfg.steps or step == cfg.stop_after:
                    break
            if step == cfg.stop_after:
                break
        if saved_at != step:
            checkpoints.save(step, model, ema, opt, {"epoch": step // steps_per_epoch})
    finally:
        if bar is not None:
            bar.close()
        logger.close()

    checksum = param_checksum(model)
    sums = [checksum]
    if dist.active:
        sums = [None] * dist.world
        torch_dist.all_gather_object(sums, checksum)
    summary = {"step": step, "stopped": step < cfg.steps, "last": last_logs, "eval": evals,
               "rank_checksums": sums, "ema_checksum": param_checksum(ema.copy_of(model))}
    return summary, ema


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if torch.is_tensor(x):
        return x.tolist()
    return str(x)


def write_summary(path: str | Path, summary: dict) -> None:
    """A trainer's summary.json (numpy/torch numbers as plain JSON)."""
    write_text(path, json.dumps(summary, indent=1, default=_jsonable) + "\n")
