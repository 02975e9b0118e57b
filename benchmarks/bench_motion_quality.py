"""Motion quality an animator sees (issue 15): foot skating, sinking, floating, bone-length variation,
jerk, heading drift of straight walks, turn angles, stride length and seam pops of long clips, for a
model's motions (raw and cleaned) side by side with real held-out mocap of the same contents.

    python benchmarks/bench_motion_quality.py [--model DIR] [--data CACHE] [--seeds 3] [--out q.json]

Real motions: the test split of a clean cache (default: data/cache/clean, from training.prepare),
whole clips, through features_to_joints like everything the model makes. Generated motions: prompts
phrased unlike the training captions (PROMPTS), `--seconds` long, seeds 0..N-1, plus `--long-seconds`
walks for the seam and drift figures. Columns are defined in training/evaluation/plausibility.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from ropar_core import features as feats  # noqa: E402
from training.evaluation import plausibility as pl  # noqa: E402

DEFAULT_DATA = "data/cache/clean"  # what training.prepare writes
# group -> (Bandai contents whose real clips it is compared with, prompts unlike the training captions)
PROMPTS = {
    "walk": (("walk",), ("a man goes for a walk down the street", "she is walking along calmly",
                         "somebody paces down a long corridor")),
    "turn-left": (("walk-turn-left",), ("a guy walking who swings round to his left",
                                        "she walks a bit and then heads off to her left")),
    "turn-right": (("walk-turn-right",), ("a guy walking who swings round to his right",
                                          "she walks a bit and then heads off to her right")),
    "run": (("run",), ("a man is running fast", "somebody dashes down the track")),
    "arms": (("wave-both-hands", "wave-left-hand", "wave-right-hand", "raise-up-both-hands",
              "raise-up-left-hand", "raise-up-right-hand"),
             ("greeting a friend by waving the right hand", "a woman greets people waving both arms",
              "a student puts up the left hand to ask a question", "somebody holds both arms up high")),
}
# The same for a model trained on the commercial-use sets (CMU, ReActIdle, DeepMimic): their contents.
PROMPTS_OPEN = {
    "walk": (("walk",), ("a man goes for a walk down the street", "she is walking along calmly",
                         "somebody paces down a long corridor")),
    "run": (("run",), ("a man is running fast", "somebody dashes down the track")),
    "jump": (("jump",), ("a person leaps forward with both feet", "someone hops ahead a few times")),
    "idle": (("idle",), ("a man waits around doing nothing", "she stands still and shifts her weight")),
    "dance": (("dance",), ("a couple of salsa steps", "somebody dancing to latin music")),
}
PROMPT_SETS = {"default": PROMPTS, "open": PROMPTS_OPEN}
LONG_PROMPT = "a man goes for a long walk down the street"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="model directory (default: assets/default)")
    p.add_argument("--data", default=DEFAULT_DATA, help="clean cache with a test split (real motions)")
    p.add_argument("--split", default="test")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--long-seconds", type=float, default=30.0, help="0 = skip the long walks")
    p.add_argument("--prompt-set", choices=sorted(PROMPT_SETS), default="default",
                   help="groups of prompts and real contents: 'open' for a model trained on the "
                        "commercial-use sets (with --data pointing at their clean cache)")
    p.add_argument("--out", default=None, help="write every number as JSON here")
    return p.parse_args(argv)


def real_rows(data: str, split: str) -> dict[str, list[dict]]:
    """Bandai content -> per-clip metrics of the split's real clips."""
    meta = json.loads((Path(data) / "meta.json").read_text())
    arr = np.load(Path(data) / "features.npy", mmap_mode="r")
    rows: dict[str, list[dict]] = {}
    for clip in meta["clips"]:
        if clip["split"] == split and clip.get("content"):
            x = np.asarray(arr[clip["start"]: clip["start"] + clip["length"]])
            rows.setdefault(clip["content"], []).append(pl.clip_metrics(feats.features_to_joints(x)))
    return rows


def window_seams(gen, frames: int) -> list[int]:
    """Frames at which the generator starts a new window of a long motion."""
    from ropar_core.cleanup import window_seams as seams

    return seams(frames, gen.max_tokens)


def generate(gen, prompts, seconds, seeds, cleaned: bool):
    out = []
    for seed in range(seeds):
        out += gen.generate(list(prompts), seconds=seconds, seed=seed * 1000, raw=not cleaned)
    return out


def measure(args) -> dict:
    from ropar_core.generator import Generator

    gen = Generator.from_pretrained(args.model, device="cpu")
    real = real_rows(args.data, args.split)
    result: dict = {"model": args.model or "assets/default", "data": args.data, "seeds": args.seeds,
                    "seconds": args.seconds, "prompt_set": args.prompt_set, "groups": {}}
    for group, (contents, prompts) in PROMPT_SETS[args.prompt_set].items():
        entry = {"real": pl.summarise(r for c in contents for r in real.get(c, []))}
        for kind in ("raw", "cleaned"):
            t0 = time.perf_counter()
            motions = generate(gen, prompts, args.seconds, args.seeds, kind == "cleaned")
            entry[kind] = pl.summarise(pl.clip_metrics(m.joints) for m in motions)
            entry[kind]["headings"] = [pl.heading_change(m.joints) for m in motions]
            entry[kind]["seconds_per_motion"] = (time.perf_counter() - t0) / len(motions)
        result["groups"][group] = entry
    if args.long_seconds > 0:
        result["long"] = {}
        for kind in ("raw", "cleaned"):
            motions = generate(gen, [LONG_PROMPT], args.long_seconds, args.seeds, kind == "cleaned")
            seams = window_seams(gen, motions[0].frames)
            result["long"][kind] = {
                **pl.summarise(pl.clip_metrics(m.joints) for m in motions),
                "headings": [pl.heading_change(m.joints) for m in motions],
                "seam_pop": [pl.seam_pop(m.joints, seams) for m in motions],
                "off_seam_pop": [pl.seam_pop(m.joints, [s + 10 for s in seams]) for m in motions]}
    return result


def targets(result: dict) -> list[str]:
    """The issue's "Done means" checks on the cleaned (default) output."""
    g = result["groups"]
    lines = []
    limits = {name: 1.5 * e["real"]["skating_ratio"] + 0.02 for name, e in g.items()}  # each group's own
    for kind in ("raw", "cleaned"):
        skates = ", ".join(f"{name} {e[kind]['skating_ratio']:.2f}/{limits[name]:.2f}"
                           for name, e in g.items())
        skating_ok = all(e[kind]["skating_ratio"] <= limits[name] for name, e in g.items())
        sink = max(e[kind]["sink_share"] for e in g.values())
        bone = max(e[kind]["bone_variation_max"] for e in g.values())
        lines += [
            f"{kind:>8}: skating / limit (1.5x real + 0.02): {skates}: {'yes' if skating_ok else 'NO'}",
            f"{kind:>8}: worst sink share {100 * sink:.1f} % <= 2 %: {'yes' if sink <= 0.02 else 'NO'}",
            f"{kind:>8}: worst bone-length variation {100 * bone:.2f} % <= 1 %: "
            f"{'yes' if bone <= 0.01 else 'NO'}",
        ]
        if "walk" in g:
            walk = g["walk"][kind]["abs_heading_median_deg"]
            lines.append(f"{kind:>8}: straight walk |heading| median {walk:.1f} deg < 15: "
                         f"{'yes' if walk < 15 else 'NO'}")
        if "turn-left" in g and "turn-right" in g:
            turn = max(abs(g[t][kind]["heading_deg"] - g[t]["real"]["heading_deg"])
                       for t in ("turn-left", "turn-right"))
            lines.append(f"{kind:>8}: worst turn error vs real {turn:.1f} deg <= 25: "
                         f"{'yes' if turn <= 25 else 'NO'}")
    return lines


def print_table(result: dict) -> None:
    print(pl.HEADER)
    for group, entry in result["groups"].items():
        for kind in ("real", "raw", "cleaned"):
            print(pl.format_row(f"{group} {kind}", entry[kind]))
    for kind, entry in result.get("long", {}).items():
        heads = ", ".join(f"{h:.0f}" for h in entry["headings"])
        pops = ", ".join(f"{p:.1f}" for p in entry["seam_pop"])
        off = ", ".join(f"{p:.1f}" for p in entry["off_seam_pop"])
        print(f"long walk {kind}: heading change {heads} deg; seam pop (accel / median) {pops} "
              f"(10 frames past the seams: {off})")
    for line in targets(result):
        print(line)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = measure(args)
    if args.out:
        from ropar_core.atomic import write_text

        write_text(args.out, json.dumps(result, indent=1, default=float) + "\n")
    print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
