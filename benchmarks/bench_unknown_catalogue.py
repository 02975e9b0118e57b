"""The familiarity margin with and without the unknown-action catalogue (training/train/unknown_catalogue.py),
cross-validated over the held-out calibration prompts, so that neither the catalogue's cut nor the
threshold sees the prompts it is measured on.

    python benchmarks/bench_unknown_catalogue.py                       # both shipped models, KIT-ML
    python benchmarks/bench_unknown_catalogue.py --model assets/open --folds 5 --catalogue FILE

Per fold: the known paraphrases and unknown actions of assets/agreement_calibration.json (and the unknown
prompts of assets/prompt_familiarity.json) of the other folds set the catalogue's cut (the familiarity
all but --max-false of their paraphrases reach) and the margin threshold (the most unknown prompts warned
with at most --max-false of the paraphrases); the fold's own prompts are then counted. A stored unknown
action is judged against the other stored ones, as in the calibration. Margin only: no motions are
generated (bench_warning.py measures the Generator's whole warning on other prompts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))


def held_out_rates(base, enc, catalogue: str | None, folds: int,
                   max_false: float) -> tuple[int, int, int, int]:
    """-> (paraphrases warned, paraphrases, unknown warned, unknown) on the held-out folds."""
    from training.train import unknown_catalogue as uc
    from training.train.build_knowledge import choose_threshold, held_out, margins, with_unknown

    known, stored, extra = held_out(base.labels)
    unknown = stored + extra
    rng = np.random.default_rng(0)
    fold_k, fold_u = rng.permutation(len(known)) % folds, rng.permutation(len(unknown)) % folds
    known_warned = unknown_warned = 0
    for f in range(folds):
        texts, emb = [], None
        if catalogue:
            cut = uc.paraphrase_cut(base, enc, [t for t, g in zip(known, fold_k) if g != f], max_false)
            texts, emb, _ = uc.select(catalogue, base, enc, cut)
        k = with_unknown(base, enc, stored, texts, emb)
        mk = np.array([x.margin for x in margins(k, enc, known)])
        mu = np.array([x.margin for x in margins(k, enc, unknown)])
        threshold, _, _ = choose_threshold(mk[fold_k != f], mu[fold_u != f], max_false)
        known_warned += int((mk[fold_k == f] < threshold).sum())
        unknown_warned += int((mu[fold_u == f] < threshold).sum())
    return known_warned, len(known), unknown_warned, len(unknown)


def main(argv: list[str] | None = None) -> int:
    from ropar_core import checkpoint, text_cache
    from ropar_core.knowledge import Knowledge
    from ropar_core.text import TextEncoder
    from training.train import unknown_catalogue as uc

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", nargs="+", default=[str(ROOT / "assets" / m) for m in ("default", "open")])
    p.add_argument("--catalogue", default=str(uc.DEFAULT))
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--max-false", type=float, default=0.05)
    args = p.parse_args(argv)
    text_cache.enable_for_training()  # the catalogue's captions are embedded once per machine
    for model in args.model:
        base = Knowledge.load(model)
        enc = TextEncoder(checkpoint.load_config(Path(model)).get("text_encoder"))
        for name, catalogue in (("hand-written unknown actions only", None), ("+ catalogue", args.catalogue)):
            kw, kn, uw, un = held_out_rates(base, enc, catalogue, args.folds, args.max_false)
            print(f"{model}  {name:34s} held-out folds: paraphrases warned {kw}/{kn} ({kw / kn:.1%}), "
                  f"unknown actions warned {uw}/{un} ({uw / un:.1%})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
