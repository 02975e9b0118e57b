"""Generation speed: latency of one 196-frame motion (batch 1) and throughput at batch 32 (and larger
batches on CUDA), on the CPU and on CUDA when present.

    python benchmarks/bench_generate.py --model runs/default_candidate --out bench.json
    python benchmarks/bench_generate.py --device cuda --batch-sizes 1,32,128,256 --compile

Latency includes the text encoder on a prompt it has not seen (as a user's first request does);
throughput uses distinct prompts too. The goal for the shipped model: <= 1 s per motion on a 2-core CPU.
Prints a table and writes JSON (--out) with the machine, the model and every measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

PROMPTS = [
    "a person walks forward", "a person waves with the right hand", "a person runs in a circle",
    "a person jumps up and down", "a person sits down on a chair", "a person raises both arms",
    "a person walks backwards slowly", "a person turns around to the left", "an elderly person walks",
    "a person kicks with the left leg", "a person bows", "a person waves with both hands",
    "a person walks in an exhausted way", "a person dances happily", "a person crouches",
    "a person steps to the side", "a person throws a ball", "a person stretches the arms",
    "a person climbs stairs", "a person punches forward", "a person walks and then stops",
    "a person hops on one foot", "a person claps hands", "a person looks around",
    "a person picks something up", "a person walks in a feminine way", "a person jogs in place",
    "a person spins around", "a person waves with the left hand", "a person lies down",
    "a person stands up", "a person walks like a youthful person",
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="model directory (default: assets/default)")
    p.add_argument("--device", default="all", help="cpu, cuda, or all (cpu plus cuda when present)")
    p.add_argument("--frames", type=int, default=196, help="motion length (default 196 = 9.8 s)")
    p.add_argument("--batch-sizes", default=None, help="comma list (default 1,32 on CPU; 1,32,128,256 CUDA)")
    p.add_argument("--ddim-steps", type=int, default=None, help="DDIM steps per token of the diffusion head")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per batch size (median reported)")
    p.add_argument("--steps", type=int, default=None, help="unmasking steps (default: the model's)")
    p.add_argument("--cfg", type=float, default=None, help="guidance scale (default: the model's)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1)")
    p.add_argument("--compile", action="store_true", help="torch.compile on CUDA")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    return p.parse_args(argv)


def devices(choice: str) -> list[str]:
    import torch

    if choice == "all":
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return [choice]


def machine() -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.processor() or
            platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    return info


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def time_batch(gen, device: str, batch: int, frames: int, args, run: int) -> float:
    """Seconds for one generate() call over `batch` distinct, never-seen prompts."""
    prompts = [f"{PROMPTS[(run * batch + i) % len(PROMPTS)]} (take {run * batch + i})" for i in range(batch)]
    _sync(device)
    start = time.perf_counter()
    gen.generate(prompts, frames=frames, seed=run * 1000, cfg=args.cfg, steps=args.steps, batch_size=batch)
    _sync(device)
    return time.perf_counter() - start


def bench_device(device: str, args) -> list[dict]:
    from ropar_core.generator import Generator

    t0 = time.perf_counter()
    gen = Generator.from_pretrained(args.model, device=device, compile=args.compile and device == "cuda",
                                    threads=args.threads)
    load_s = time.perf_counter() - t0
    if args.ddim_steps:
        gen.ddim_steps = args.ddim_steps
    sizes = [int(b) for b in args.batch_sizes.split(",")] if args.batch_sizes else \
        ([1, 32] if device == "cpu" else [1, 32, 128, 256])
    time_batch(gen, device, 1, 16, args, run=999)  # warm-up: kernels, allocator, text encoder
    rows = []
    for b in sizes:
        if device == "cuda" and b > 1:
            time_batch(gen, device, b, args.frames, args, run=998)  # shapes of this batch size warmed too
        repeats = args.repeats if b == 1 else max(1, args.repeats // 2)
        times = [time_batch(gen, device, b, args.frames, args, run=r) for r in range(repeats)]
        med = statistics.median(times)
        rows.append({"device": str(gen.device), "batch": b, "frames": args.frames, "repeats": repeats,
                     "seconds_per_call": round(med, 4), "seconds_per_motion": round(med / b, 4),
                     "motions_per_second": round(b / med, 3), "all_seconds": [round(t, 4) for t in times],
                     "load_seconds": round(load_s, 2), "steps": args.steps or gen.default_steps,
                     "cfg": args.cfg if args.cfg is not None else gen.default_cfg,
                     "ddim_steps": gen.ddim_steps or gen.ropar.cfg.sample_steps})
        print(f"  {device} batch {b:>3}: {med:.3f} s per call, {med / b:.3f} s per motion", file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    head = f"{'device':<8}{'batch':>6}{'frames':>8}{'s/call':>10}{'s/motion':>10}{'motions/s':>11}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['device']:<8}{r['batch']:>6}{r['frames']:>8}{r['seconds_per_call']:>10.3f}"
                     f"{r['seconds_per_motion']:>10.3f}{r['motions_per_second']:>11.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    from ropar_core.errors import RoparError
    from ropar_core.generator import DEFAULT_MODEL_DIR, Generator  # noqa: F401

    rows = []
    try:
        for device in devices(args.device):
            rows += bench_device(device, args)
    except RoparError as exc:
        print(f"bench_generate: error: {exc}", file=sys.stderr)
        return 2
    print(table(rows))
    result = {"model": str(Path(args.model).resolve()) if args.model else str(DEFAULT_MODEL_DIR),
              "machine": machine(), "results": rows}
    cpu1 = [r for r in rows if r["device"] == "cpu" and r["batch"] == 1]
    if cpu1:
        result["cpu_goal_1s_per_motion_met"] = cpu1[0]["seconds_per_motion"] <= 1.0
    if args.out:
        from ropar_core.atomic import write_text

        write_text(args.out, json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
