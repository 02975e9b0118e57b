"""Reproduce the paper's Table 1, Table 2 and Fig. 3 on our data, at the key claim's budget.

    python -m training.report --out reports [--caches data/cache] [--preset shipped] [--seeds 3]
        [--jobs 2] [--evaluator assets/evaluator] [--work runs/key-claim-PRESET] [--text-only]

Per credible-token ratio (0.3, 0.5, 0.7 and 1.0, tables.py) the key claim's experiment runs on that
ratio's cache: RoPAR and the full-body baseline everywhere, and at 0.5 Table 2's ablations (RoPAR without
part decomposition or without the diffusion head; the P-VAE without part decomposition or without
shared parameters). Everything goes through training/experiments/key_claim.py: the same budget, seeds,
judge and evaluation (the whole test split, the model's raw output), the same run records
(<out>/runs/<cache>/<run>.json, committed, never redone on any machine) and parallel jobs. The key
claim's runs at 0.5 are rows here too. A row is the Student-t interval over its training seeds; claims
compare rows paired by seed (report_text.py). `--text-only` rewrites the claims, reading, report.md and
fig3.png from a committed report.json without training or evaluating anything.

Outputs in --out: report.md, report.json (every number, command and seed), fig3.png; key_claim.md and
report.json's key_claim block are refreshed from the records as `python -m training.key_claim
--report-only` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ropar_core.atomic import write_text
from ropar_core.errors import RoparError, cli_error
from training.evaluation import evaluate
from training.experiments import tables
from training.experiments.key_claim import (
    PRESETS,
    Experiment,
    assemble,
    open_experiment,
    records_dir,
    run_experiment,
)
from training.experiments.report_text import (
    claims,
    compare,
    plot_fig3,
    reading,
    signal_check,
    write_markdown,
)
from training.experiments.runs import REPO, blind_cache, recorded, shown

__all__ = ["blind_cache", "build_report", "claims", "compare", "main", "reading", "signal_check"]

EVAL_SEED = 0


def log(msg: str) -> None:
    print(f"[report] {msg}", file=sys.stderr, flush=True)


def real_row(exp: Experiment, out: Path) -> dict:
    """The 'real motions' row (the ground truth scored like a model), kept in <out>/runs/real.json."""
    from training.evaluation.evaluator import TextMotionEvaluator, load_clips

    clips = load_clips(exp.clean, "test")
    key = {"kind": "real", "n": len(clips), "repeats": exp.budget.eval.repeats, "evaluator": exp.evaluator_id,
           "data": records_dir(out, exp.data).name}
    path = out / "runs" / "real.json"
    saved = recorded(path, key)
    if saved is not None:
        return saved["result"]
    ev = TextMotionEvaluator.from_dir(exp.evaluator, device=exp.device)
    reference = evaluate._reference_split(str(exp.clean), "test")
    result = evaluate.evaluate_real(ev, clips, reference, exp.budget.eval.repeats, EVAL_SEED)
    write_text(path, json.dumps({"key": key, "result": result}, default=float) + "\n")
    return result


def _retrieval_summary(ev_dir: Path) -> dict:
    config = json.loads((ev_dir / "config.json").read_text(encoding="utf-8"))
    r = config.get("retrieval", {})

    def short(d):  # {"R@1": .., "R@10": .., "R@5": ..} (sorted as text in config.json) -> "r1/r5/r10"
        if d is None:
            return None
        return "/".join(f"{d[k]:.3f}" for k in sorted(d, key=lambda k: int(k.split("@")[1])))

    return {"dir": shown(ev_dir), "guo_r": short(r.get("guo_r")), "guo_r_label": short(r.get("guo_r_label")),
            "full_r_t2m": short(r.get("full_r_t2m")),
            "negative_filter": config.get("evaluator", {}).get("negative_filter"),
            "train_steps": config.get("train", {}).get("steps")}


def collect_rows(records: list[dict], ratio: float, seeds: list[int]) -> tuple[dict, dict, list[str]]:
    """(generation rows, reconstruction rows, rows still short of their seeds) of one ratio's records."""
    gen, rec, missing = {}, {}, []
    for rows, table in ((tables.generation_rows(ratio), gen), (tables.reconstruction_rows(ratio), rec)):
        for name, kind in rows.items():
            mine = [r for r in records if r["kind"] == kind]
            done = {r["seed"] for r in mine} & set(seeds)
            if len(done) < len(seeds):
                missing.append(f"{name} ({len(done)} of {len(seeds)} seeds)")
            if (row := tables.row(mine, seeds)) is not None:
                table[name] = row
    return gen, rec, missing


def build_report(preset: str, out: Path, caches: Path, work: Path, evaluator: Path, seeds: int = 3,
                 jobs: int = 1, command: str = "", train: bool = True) -> dict:
    """Run (train: what is not on record) and read every ratio's experiment; writes the report."""
    t_start = time.time()
    for _, (folder, _) in sorted(tables.RATIOS.items()):
        if not (caches / folder / "meta.json").is_file():
            raise RoparError(f"missing cache {caches / folder}; build the caches with python -m "
                             "training.prepare --video-variants 0.3,0.5,0.7")
    seed_list = list(range(seeds))
    results: dict = {"generation": {}, "reconstruction": {}}
    missing, commands, ratio_labels, credible, seconds = [], [], {}, {}, {"train": 0.0, "eval": 0.0}
    main_exp = None
    for ratio, (folder, label) in sorted(tables.RATIOS.items()):
        exp = open_experiment(preset, caches, folder, evaluator, work, out)
        main_exp = exp if ratio == tables.MAIN_RATIO else main_exp
        kinds = tables.kinds(ratio)
        log(f"{folder}: {', '.join(kinds)}")
        records = run_experiment(exp, kinds, seeds, seeds, jobs, estimate_only=not train)
        gen, rec, short = collect_rows(records, ratio, seed_list)
        results["generation"].update(gen)
        results["reconstruction"].update(rec)
        missing += short
        ratio_labels[ratio] = label
        credible[label] = exp.data["credible_token_ratio"]
        for r in records:
            seconds["train"] += r["train_seconds"]
            seconds["eval"] += r["eval_seconds"]
        commands.append(f"python -m training.key_claim --caches {shown(caches)} --noisy {folder} --preset "
                        f"{preset} --seeds {seeds} --other-seeds {seeds} --arms {','.join(kinds)}")
    results["real"] = real_row(main_exp, out)
    results["claims"] = claims(results, ratio_labels)
    results["reading"] = signal_check(results) + reading(results["claims"], results["generation"])
    results["reading"] += incomplete(missing)
    results["commands"] = commands
    budget = PRESETS[preset]
    results["meta"] = {
        "preset": preset,
        "command": command or f"python -m training.report --preset {preset} --out {shown(out)}",
        "wall_seconds": time.time() - t_start,
        "stage_seconds": {"train": round(seconds["train"], 1), "eval": round(seconds["eval"], 1)},
        "compute_seconds": round(seconds["train"] + seconds["eval"], 1),
        "machine": "the runs' own machines (each run record says which device trained it)",
        "repeats": budget.eval.repeats, "num_test": _test_clips(main_exp),
        "training_seeds": seed_list, "raw": budget.eval.raw, "budget": budget.record(),
        "evaluator": _retrieval_summary(evaluator), "credible_token_ratio": credible,
        "ratio_caches": {str(r): lbl for r, lbl in ratio_labels.items()},
        "caches": {lbl: tables.RATIOS[r][0] for r, lbl in ratio_labels.items()},
        "missing": missing,
        "budget_note": (f"Budget `{preset}` (the key claim's): P-VAE preset `{budget.pvae.preset}` × "
                        f"{budget.pvae.steps} steps, RoPAR preset `{budget.ropar.preset}` × "
                        f"{budget.ropar.steps} steps, {budget.eval.steps} unmasking steps at evaluation, "
                        f"judge `{shown(evaluator)}`."),
    }
    # The key claim's block and key_claim.md first, from the same records: report.md quotes its verdict.
    assemble(out, main_exp.data)
    write_outputs(results, out)
    log(f"wrote {out / 'report.md'} in {(time.time() - t_start) / 60:.1f} min")
    return results


def incomplete(missing: list[str] | None) -> list[str]:
    """The reading's last line while rows still lack seeds (none when every row is complete)."""
    if not missing:
        return []
    return [f"Incomplete: {len(missing)} rows still lack seeds ({'; '.join(missing)}); rerun the same "
            "command to add them."]


def _test_clips(exp: Experiment) -> int:
    from training.data.cache import Cache

    return len(Cache(exp.clean).indices("test"))


def write_outputs(results: dict, out: Path) -> None:
    """report.json (keeping the judge and key_claim blocks other commands wrote), report.md, fig3.png."""
    ratios = {float(r): name for r, name in results["meta"]["ratio_caches"].items()}
    out.mkdir(parents=True, exist_ok=True)
    plot_fig3(results, ratios, out / "fig3.png")
    try:
        earlier = json.loads((out / "report.json").read_text(encoding="utf-8"))
        results.update({k: earlier[k] for k in ("judge", "key_claim") if k in earlier and k not in results})
    except (OSError, ValueError):
        pass
    write_text(out / "report.json", json.dumps(results, indent=1, default=float) + "\n")
    write_markdown(results, ratios, out / "report.md")


def rewrite_text(out: Path) -> dict:
    """The claims, reading, report.md and fig3.png again from out/report.json (nothing trained or
    evaluated): a new way of reading the numbers applied to a committed report."""
    try:
        results = json.loads((out / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RoparError(f"cannot read {out / 'report.json'}: {exc}") from exc
    if not results.get("generation") or "meta" not in results:
        raise RoparError(f"{out / 'report.json'} holds no report (no generation results)")
    ratios = {float(r): name for r, name in results["meta"].get("ratio_caches", {}).items()}
    results["claims"] = claims(results, ratios)
    results["reading"] = signal_check(results) + reading(results["claims"], results["generation"])
    results["reading"] += incomplete(results["meta"].get("missing"))
    write_outputs(results, out)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.report", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="shipped", choices=sorted(PRESETS),
                        help="the key claim's budget (tiny: CI on synthetic caches)")
    parser.add_argument("--out", default="reports", help="where report.md / report.json / fig3.png go")
    parser.add_argument("--caches", default=str(REPO / "data" / "cache"),
                        help="directory holding clean/ and noisy_video_r30/, _r50/, _r70/")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per row (0..N-1)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at the same time")
    parser.add_argument("--work", help="trained models (default runs/key-claim-PRESET, the key claim's)")
    parser.add_argument("--evaluator", default=str(REPO / "assets" / "evaluator"), help="the judge")
    parser.add_argument("--read-only", action="store_true",
                        help="train nothing: the report from the run records on record")
    parser.add_argument("--text-only", action="store_true",
                        help="only rewrite the claims, reading, report.md and fig3.png from OUT/report.json")
    args = parser.parse_args(argv)
    try:
        if args.text_only:
            rewrite_text(Path(args.out))
            return 0
        if args.seeds < 2:
            raise RoparError("--seeds must be at least 2 (a row is an interval over seeds)")
        work = Path(args.work) if args.work else REPO / "runs" / f"key-claim-{args.preset}"
        command = "python -m training.report " + " ".join(argv if argv is not None else sys.argv[1:])
        build_report(args.preset, Path(args.out), Path(args.caches), work, Path(args.evaluator), args.seeds,
                     args.jobs, command, train=not args.read_only)
    except RoparError as exc:
        return cli_error("report", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
