"""What a fine-tuned model (`ropar finetune`) learned and what it kept, side by side with its base model.

    python benchmarks/bench_finetune.py --tuned MODEL --clip CLIP.npz [--base DIR] [--seeds 3] [--out f.json]

Learned: for the clip's caption, each seed's motion is compared with the clip (root-relative joint
positions of the parts the clip saw, the best-matching window of the clip, mean metres): lower is closer.
Kept: "a person walks forward" (distance covered in 4 s, foot skating from
training/evaluation/plausibility.py) and "a person waves with the right hand" (share of seeds whose right
wrist rises above the head), the checks the model card makes of every model.
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

from ropar_core import skeleton as sk  # noqa: E402
from ropar_core.generator import DEFAULT_MODEL_DIR, Generator  # noqa: E402
from training.evaluation import plausibility as pl  # noqa: E402
from training.finetune import read_clip  # noqa: E402

WALK, WAVE = "a person walks forward", "a person waves with the right hand"


def clip_distance(motion: np.ndarray, clip: np.ndarray, credible: np.ndarray) -> float:
    """Mean distance (m) of root-relative joints of the seen parts, at the clip's best-matching window."""
    seen = np.zeros(sk.NUM_JOINTS, bool)
    for k, part in enumerate(sk.PART_NAMES):
        if credible[:, k].mean() > 0.5:
            seen[list(sk.PART_JOINTS[part])] = True
    a = motion - motion[:, :1]
    b = clip - clip[:, :1]
    n = min(len(a), len(b))
    best = np.inf
    for off in range(0, len(b) - n + 1, 2):
        for start in range(0, len(a) - n + 1, 4):
            d = np.linalg.norm(a[start:start + n, seen] - b[off:off + n, seen], axis=-1).mean()
            best = min(best, float(d))
    return best


def measure(model: Path, clip: dict, seeds: int) -> dict:
    gen = Generator.from_pretrained(model, device="cpu")
    out: dict = {"model": str(model)}
    start = time.perf_counter()
    learned = gen.generate([clip["text"]] * seeds, seconds=len(clip["joints"]) / sk.FPS, seed=0)
    out["caption_distance_m"] = [round(clip_distance(m.joints, clip["joints"], clip["credible"]), 3)
                                 for m in learned]
    out["caption_warning"] = learned[0].warning
    walks = gen.generate([WALK] * seeds, seconds=4, seed=0)
    out["walk_distance_m"] = [round(float(np.linalg.norm(m.joints[-1, 0, [0, 2]] - m.joints[0, 0, [0, 2]])),
                                    2) for m in walks]
    out["walk_skating"] = round(float(np.mean([pl.skating_ratio(m.joints) for m in walks])), 3)
    waves = gen.generate([WAVE] * seeds, seconds=4, seed=0)
    out["wave_hand_above_head"] = [bool((m.joints[:, 21, 1] > m.joints[:, 15, 1]).any()) for m in waves]
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tuned", required=True, help="the fine-tuned model directory")
    p.add_argument("--clip", required=True, help="the clip it was fine-tuned on (.npz from `ropar video`)")
    p.add_argument("--caption", default=None, help="the clip's caption, when the .npz has none")
    p.add_argument("--base", default=str(DEFAULT_MODEL_DIR), help="the base model (default: shipped)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", default=None, help="also write the results as JSON")
    args = p.parse_args(argv)
    clip = read_clip(args.clip)
    clip["text"] = clip["text"] or (args.caption or "")
    results = {"clip": args.clip, "caption": clip["text"],
               "base": measure(Path(args.base), clip, args.seeds),
               "tuned": measure(Path(args.tuned), clip, args.seeds)}
    text = json.dumps(results, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
