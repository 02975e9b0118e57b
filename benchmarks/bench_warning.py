"""The generation warning, tried as a new user would: 20 everyday actions none of our data holds and 20
actions the model knows, phrased in words its training captions don't use, 3 seeds each.

    python benchmarks/bench_warning.py                          # the shipped default model
    python benchmarks/bench_warning.py --model DIR --seeds 0,1,2 --out warning.json
    python benchmarks/bench_warning.py --captions data/cache-multi/clean   # + which words the captions use

Per prompt: its familiarity margin (knowledge.py: nearness to the training captions' actions minus
nearness to the stored unknown actions), its agreement on each seed (agreement.py: how well the generated
motion shows the prompt, relative to the known actions it looks like) and how many seeds warned (the
Generator's warning: warning.py's rule over both). A prompt counts as warned when most of its seeds warn.
Totals for familiarity alone (the warning of a model without agreement.safetensors) and for the
Generator's warning. Target: unknown >= 18/20 warned, known <= 1/20.

These lists measure the warning; they are never used to choose its threshold (that is calibrated on the
held-out prompts of assets/agreement_calibration.json and the test split, training/build_agreement.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

# Typed as people type them; none of these actions is in any shared data set.
UNKNOWN = [
    "a person sits down on a chair", "lie down on the floor", "someone falls down",
    "a man climbs up the stairs", "a woman swimming in a pool", "doing push ups", "typing on a keyboard",
    "a person drinks a glass of water", "riding a bicycle", "a man plays the guitar", "brushing my teeth",
    "doing sit ups", "a woman reads a book", "someone talks on the phone",
    "a guy lifts heavy weights at the gym", "tying shoelaces", "a person opens a door",
    "eating soup with a spoon", "mopping the kitchen floor", "a person does yoga",
]
# Actions the default model was trained on, each in words its captions don't use for it (--captions checks).
KNOWN = [
    "someone ambles along calmly",                                    # walk
    "a sprinter races down the track",                                # run
    "a woman ambles ahead and then swerves to her left",              # walk, turn left
    "pacing forward, then rounding a corner to the right",            # walk, turn right
    "saying hi to a neighbour with the right palm",                   # wave right hand
    "someone signals hi to a passing bus with the left palm",         # wave left hand
    "a fan flails both palms overhead to cheer",                      # wave both hands
    "a pupil reaches the right palm toward the ceiling",              # raise right hand
    "volunteering by sticking the left arm skyward",                  # raise left hand
    "someone surrenders, holding both palms overhead",                # raise both hands
    "a man retreats rearwards",                                       # walk back
    "a butler dips deferentially at the waist",                       # bow
    "someone boogies to a catchy song",                               # dance
    "a kid hops vertically as high as possible",                      # jump
    "a footballer boots with the right foot",                         # kick
    "a boxer jabs at an opponent's chin",                             # punch
    "an infant scoots on hands and knees",                            # crawl
    "a burglar skulks cautiously through a hallway",                  # sneak
    "a man bolts flat out",                                           # dash
    "a ghoul limps toward its victim",                                # zombie walk
]
_STOP = set("a an the to of on and then with at as its her his my toward through by is".split())


def caption_words(cache: str) -> set[str]:
    meta = json.loads((Path(cache) / "meta.json").read_text())
    texts = (t.lower() for clip in meta["clips"] for t in clip.get("texts", []))
    return {w for t in texts for w in re.findall(r"[a-z'-]+", t)}


def run(model, seeds: list[int], seconds: float) -> dict:
    from ropar_core.generator import Generator

    gen = Generator.from_pretrained(model, device="cpu")
    if gen.judge is None:
        print(f"note: {model or 'the default model'} has no agreement.safetensors: familiarity alone",
              file=sys.stderr)
    out = {}
    for name, prompts in (("unknown", UNKNOWN), ("known", KNOWN)):
        fams = gen.familiarity(prompts)
        text_emb = gen.text.encode(prompts).float()
        rows = [{"prompt": p, "familiarity": None if f is None else round(f.score, 3),
                 "margin": None if f is None else round(f.margin, 3),
                 "familiar": True if f is None else f.known, "agreement": [], "warned": [], "looks_like": []}
                for p, f in zip(prompts, fams)]
        t0 = time.perf_counter()
        for seed in seeds:
            motions = gen.generate(prompts, seconds=seconds, seed=[seed] * len(prompts), progress=True)
            judged = [None] * len(rows)
            if gen.judge is not None:
                judged = gen.judge.judge(text_emb, [m.features for m in motions])
            for row, m, a in zip(rows, motions, judged):
                row["warned"].append(m.warning is not None)
                row["agreement"].append(None if a is None else round(a.score, 3))
                row["looks_like"].append(None if a is None else a.looks_like[0])
        for row in rows:
            row["warned_before"] = not row["familiar"]
            row["warned_after"] = sum(row["warned"]) * 2 > len(seeds)
        out[name] = {"rows": rows, "seconds": time.perf_counter() - t0,
                     "before": sum(r["warned_before"] for r in rows),
                     "after": sum(r["warned_after"] for r in rows)}
    out["threshold"] = None if gen.judge is None else gen.judge.threshold
    out["rule"] = None if gen.judge is None else gen.judge.rule
    out["familiarity_threshold"] = None if gen.knowledge is None else gen.knowledge.threshold
    return out


def show(result: dict, seeds: list[int], words: set[str] | None) -> None:
    for name in ("unknown", "known"):
        print(f"\n{name} actions ({len(seeds)} seeds each; warning rule {result['rule']}, familiarity "
              f"threshold {result['familiarity_threshold']}, agreement threshold {result['threshold']})")
        print(f"{'prompt':58s} {'margin':>6s} {'agreement per seed':>22s} warned looks like")
        for r in result[name]["rows"]:
            agree = " ".join("   -  " if a is None else f"{a:+.3f}" for a in r["agreement"])
            fam = "   -  " if r["margin"] is None else f"{r['margin']:+.3f}"
            print(f"{r['prompt'][:58]:58s} {fam:>6s} {agree:>22s} {sum(r['warned'])}/{len(seeds)}   "
                  f"{', '.join(sorted(set(x for x in r['looks_like'] if x)))}")
            used = words and [w for w in re.findall(r"[a-z'-]+", r["prompt"].lower())
                              if w in words and w not in _STOP]
            if name == "known" and used:
                print(f"{'':8s}words the training captions use: {', '.join(used)}")
    u, k = result["unknown"], result["known"]
    print("\nwarned (majority of seeds)   familiarity only            the Generator's warning")
    print(f"  unknown actions            {u['before']:2d}/{len(UNKNOWN)}                       "
          f"{u['after']:2d}/{len(UNKNOWN)}   (target >= 18)")
    print(f"  known actions              {k['before']:2d}/{len(KNOWN)}                       "
          f"{k['after']:2d}/{len(KNOWN)}   (target <= 1)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model directory (default: the shipped default)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--captions", help="a cache the model was trained on: print known prompts' caption words")
    p.add_argument("--out", help="write every number as JSON here")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    result = run(args.model, seeds, args.seconds)
    show(result, seeds, caption_words(args.captions) if args.captions else None)
    if args.out:
        Path(args.out).write_text(json.dumps({"seeds": seeds, "seconds": args.seconds, **result}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
