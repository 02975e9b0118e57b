"""Which torch device to run on, how many CPU threads, and mixed precision: one home for the Generator,
the commands and the training loop."""

from __future__ import annotations

import contextlib

import torch

from ropar_core import limits
from ropar_core.errors import RoparError

# Sampling runs thousands of small matmuls (a few dozen tokens each): one thread is as fast as two on an
# idle 2-core CPU and up to 25x faster on a shared one, where OpenMP threads wait for each other
# (measured: 0.56 s vs 14 s per 196-frame motion on this project's busy 2-core machine).
CPU_THREADS = 1


def resolve_device(device: str | torch.device | None = "auto", local_rank: int | None = None) -> torch.device:
    """"auto" (CUDA when available), "cpu", "cuda" or "cuda:N" -> a torch.device that exists here.
    local_rank (torchrun's LOCAL_RANK) picks the GPU when none is named."""
    name = "auto" if device is None else str(device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and local_rank is not None:
        name = f"cuda:{local_rank}"
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise RoparError(f"unknown device {name!r}; use auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RoparError("device 'cuda' was requested but no CUDA GPU is available (use --device cpu)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RoparError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s) here")
    if dev.type not in ("cpu", "cuda"):
        raise RoparError(f"unsupported device {name!r}; use auto, cpu or cuda")
    return dev


def set_threads(threads: int | None, device: torch.device) -> None:
    """torch's intra-op threads for this process: `threads`, or CPU_THREADS when running on the CPU."""
    limits.check_threads(threads)  # torch crashes (exit 139) when asked for ~100 000 threads
    if threads is not None or device.type == "cpu":
        torch.set_num_threads(threads or CPU_THREADS)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op context on CPU (CPU work stays in float32)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
