"""Reproduce the paper's Table 1, Table 2 and Fig. 3 on our data, at a chosen budget.

    python -m training.report --preset small --out reports/ [--caches data/cache] [--work runs/report-small]
        [--evaluator runs/evaluator] [--repeats 3] [--limit N]

What is trained (every run with fixed seeds; each is the ordinary training command, imported and called):
- RoPAR (part-aware P-VAE + RoPAR, credibility-aware) and the full-body baseline on every cache: clean
  (100 % credible tokens), noisy, noisy_r70, noisy_r50, noisy_r30. The baseline is the same masked
  autoregressive model with `part_decomposition=False` (one full-body token per 4 frames, P-VAE and
  transformer) trained on ALL frames as if every token were credible, as prior methods do: it reads a
  "credibility-blind" view of each noisy cache (same features, credible.npy all True, stats over all
  frames).
- Table 2 ablations on the noisy cache: P-VAE without part decomposition / without shared parameters
  (reconstruction FID and MPJPE of the clean test motions), RoPAR without part decomposition (full-body
  tokens, still credibility-aware: a token is credible only when every part is) and without the
  diffusion head (direct regression).
Everything is judged by the evaluator of training/evaluator.py (trained on the clean cache only) with
training/evaluate.py's protocol; numbers are mean +- 95 % CI over `repeats` evaluation runs (sampling and
caption draws). The CIs do NOT include training-seed variance: each configuration is trained once.

Outputs in --out: report.md, report.json (every number, command, seed and timing), fig3.png. Trained
models and per-run results stay in --work, so an interrupted report resumes where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ropar_core.atomic import atomic_path, write_text
from ropar_core.errors import RoparError
from training.data.cache import Cache, recompute_stats
from training.evaluation import evaluate
from training.evaluation.evaluator import TextMotionEvaluator, load_clips
from training.train.config import TrainConfig, flags_for, pvae_train_defaults, ropar_train_defaults

REPO = Path(__file__).resolve().parents[2]
RATIO_CACHES = {0.3: "noisy_r30", 0.5: "noisy_r50", 0.7: "noisy_r70", 1.0: "clean"}
SEEDS = {"pvae": 1, "ropar": 2, "evaluator": 1234, "eval": 0}

# Budgets. "tiny": CI on a synthetic cache in about two minutes; "small": this shared 2-core CPU in about
# 40 minutes (tiny models, few steps: the numbers show trends at best); "full": a GPU.
PRESETS = {
    "tiny": {
        "pvae": {"preset": "tiny", "steps": 24, "batch_size": 16, "lr": 2e-3, "crop_frames": 32},
        "ropar": {"preset": "tiny", "steps": 24, "batch_size": 16, "lr": 1e-3, "crop_frames": 64},
        "evaluator": {"preset": "tiny", "steps": 150},
        "eval": {"repeats": 2, "limit": None, "steps": 2, "batch_size": 64},
        "threads": 1,
    },
    "small": {
        "pvae": {"preset": "tiny", "steps": 80, "batch_size": 16, "lr": 3e-3, "crop_frames": 64},
        "ropar": {"preset": "tiny", "steps": 100, "batch_size": 16, "lr": 2e-3, "crop_frames": 128},
        "evaluator": {"preset": "small", "steps": 400},
        "eval": {"repeats": 2, "limit": 64, "steps": 4, "batch_size": 64},
        "threads": 2,
        # Evaluation in one thread: on a 2-core machine that others load too, 2 OpenMP threads spin-wait
        # and evaluated up to 10x slower than 1 thread.
        "eval_threads": 1,
    },
    "full": {
        "pvae": {"preset": "base", "steps": 20000, "batch_size": 64, "lr": 2e-4, "crop_frames": 64},
        "ropar": {"preset": "base", "steps": 50000, "batch_size": 64, "lr": 2e-4, "crop_frames": 196},
        "evaluator": {"preset": "full", "steps": 20000},
        "eval": {"repeats": 20, "limit": None, "steps": 18, "batch_size": 64},
        "threads": 0,
    },
}


def shown(path) -> str:
    """A path as the report prints it: relative to the repository when inside it (no machine paths)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(REPO))
    except ValueError:
        return str(p)


def _log(msg: str) -> None:
    print(f"[report] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------
# The baseline's view of a noisy cache


def blind_cache(src: Path, dst: Path) -> Path:
    """A view of cache `src` in which every part of every frame is credible (feature arrays symlinked, not
    copied); the normalisation stats are recomputed over all train frames, as a method that ignores
    credibility computes them. Built in a side directory and renamed into place when complete."""
    if (dst / "meta.json").is_file():
        return dst
    cache = Cache(src)
    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("features.npy", "clean_features.npy"):
        if (src / name).is_file():
            (tmp / name).symlink_to((src / name).resolve())
    np.save(tmp / "credible.npy", np.ones(cache.credible.shape, bool))
    meta = {**cache.meta, "name": f"{cache.meta.get('name', src.name)}-blind", "credibility_blind": True}
    write_text(tmp / "meta.json", json.dumps(meta) + "\n")
    recompute_stats(tmp)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    return dst


# ----------------------------------------------------------------------------------------------------
# Runs


@dataclass
class Run:
    """One trained model: a P-VAE (+ RoPAR unless pvae_only) on one cache."""

    name: str
    cache: str  # key into the cache paths (a "-blind" suffix means the blind view)
    pvae: dict = field(default_factory=dict)  # P-VAE flags: part_decomposition / shared_parameters
    ropar: dict = field(default_factory=dict)  # RoPAR flags: diffusion_head
    pvae_from: str | None = None  # reuse another run's P-VAE
    pvae_only: bool = False


def plan(ratios_available: dict[float, str]) -> list[Run]:
    runs = []
    datasets = ["clean", "noisy"] + [name for r, name in sorted(ratios_available.items())
                                     if name not in ("clean", "noisy")]
    for d in dict.fromkeys(datasets):
        runs.append(Run(f"ropar@{d}", d))
        blind = d if d == "clean" else f"{d}-blind"
        runs.append(Run(f"baseline@{d}", blind, pvae={"part_decomposition": False}))
    runs += [
        Run("ropar-nopart@noisy", "noisy", pvae={"part_decomposition": False}),
        Run("pvae-noshared@noisy", "noisy", pvae={"shared_parameters": False}, pvae_only=True),
        Run("ropar-nodiffusion@noisy", "noisy", ropar={"diffusion_head": False}, pvae_from="ropar@noisy"),
    ]
    return runs


def _slug(name: str) -> str:
    return name.replace("@", "_at_")


def budget_config(defaults: TrainConfig, budget: dict, seed: int, threads: int) -> TrainConfig:
    """What train_pvae and train_ropar share: size, steps, optimiser, seed; no periodic evaluation, one
    checkpoint at the end (short runs), CPU."""
    steps = budget["steps"]
    return dataclasses.replace(
        defaults, steps=steps, batch_size=budget["batch_size"], lr=budget["lr"],
        crop_frames=budget["crop_frames"], seed=seed, warmup=max(1, steps // 10), eval_every=0,
        log_every=max(1, steps // 5), ckpt_every=steps, device="cpu", threads=threads)


def _finished(model_dir: Path, key: str, steps: int) -> bool:
    """A model directory whose config.json (written last) has `key` and was trained for `steps`."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return key in config and int(config.get("train", {}).get("steps", -1)) == steps


def train_run(run: Run, caches: dict[str, Path], work: Path, cfg: dict, record: dict, text_encoder) -> dict:
    """Train (or find finished) the P-VAE and RoPAR of one run; returns their directories + commands.
    Each is the ordinary trainer called as a function; its command line is recorded for the reader."""
    from training.train import train_pvae, train_ropar

    out: dict = {}
    if run.pvae_from:
        pvae_dir = work / _slug(run.pvae_from) / "pvae"
    else:
        pvae_dir = work / _slug(run.name) / "pvae"
        budget = cfg["pvae"]
        tcfg = budget_config(pvae_train_defaults(), budget, SEEDS["pvae"], cfg["threads"])
        flags = ["--no-part-decomposition"] if run.pvae.get("part_decomposition") is False else []
        flags += ["--no-shared-parameters"] if run.pvae.get("shared_parameters") is False else []
        command = " ".join(["python -m training.train_pvae --data", shown(caches[run.cache]), "--out",
                            shown(pvae_dir), "--preset", budget["preset"],
                            *flags_for(tcfg, pvae_train_defaults()), "--eval-clips 16 --resume", *flags])
        record.setdefault("commands", []).append(command)
        if not _finished(pvae_dir, "pvae", budget["steps"]):
            t0 = time.time()
            train_pvae.train(tcfg, train_pvae.model_config(budget["preset"], run.pvae), caches[run.cache],
                             pvae_dir, resume=True, eval_clips=16, preset=budget["preset"], command=command)
            record["timings"].add(f"{run.name}/pvae", time.time() - t0)
    out["pvae"] = pvae_dir
    if run.pvae_only:
        return out
    ropar_dir = work / _slug(run.name) / "ropar"
    budget = cfg["ropar"]
    tcfg = budget_config(ropar_train_defaults(), budget, SEEDS["ropar"], cfg["threads"])
    flags = ["--no-diffusion-head"] if run.ropar.get("diffusion_head") is False else []
    command = " ".join(["python -m training.train_ropar --data", shown(caches[run.cache]), "--pvae",
                        shown(pvae_dir), "--out", shown(ropar_dir), "--preset", budget["preset"],
                        *flags_for(tcfg, ropar_train_defaults()), "--resume", *flags])
    record.setdefault("commands", []).append(command)
    if not _finished(ropar_dir, "ropar", budget["steps"]):
        t0 = time.time()
        train_ropar.train(tcfg, caches[run.cache], pvae_dir, ropar_dir, preset=budget["preset"],
                          overrides=run.ropar, text_encoder=text_encoder, resume=True, command=command)
        record["timings"].add(f"{run.name}/ropar", time.time() - t0)
    out["ropar"] = ropar_dir
    return out


# ----------------------------------------------------------------------------------------------------
# Evaluation


class Timings:
    """Seconds per stage, kept in WORK/timings.json so that a resumed report still knows what the
    stages trained or evaluated by earlier invocations cost."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.data = {}

    def add(self, stage: str, seconds: float) -> None:
        self.data[stage] = round(float(seconds), 1)
        write_text(self.path, json.dumps(self.data, indent=1, sort_keys=True) + "\n")


def _cached_eval(path: Path, key: dict, compute, timings: Timings | None = None, stage: str = ""):
    """compute() once per key; the result is kept in `path`."""
    if path.is_file():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("key") == key:
                return saved["result"]
        except (OSError, ValueError):
            pass
    t0 = time.time()
    result = compute()
    if timings is not None:
        timings.add(stage, time.time() - t0)
    write_text(path, json.dumps({"key": key, "result": result}, default=float) + "\n")
    return result


def _model_key(model_dir: Path) -> dict:
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return {"dir": str(model_dir), "train": config.get("train", {})}


def evaluate_generator_dir(model_dir: Path, ev: TextMotionEvaluator, clips, text_encoder, cfg: dict,
                           repeats: int) -> dict:
    from ropar_core.generator import Generator
    from ropar_core.modeldir import load_models

    pvae, ropar, config, mean, std = load_models(model_dir, "cpu")
    gen = Generator(pvae, ropar, text_encoder, mean, std, config, torch.device("cpu"), name=model_dir.name)
    e = cfg["eval"]
    return evaluate.evaluate_generation(gen, ev, clips, repeats=repeats, seed=SEEDS["eval"],
                                        batch_size=e["batch_size"], steps=e["steps"])


def evaluate_pvae_dir(model_dir: Path, ev: TextMotionEvaluator, clips, repeats: int) -> dict:
    from ropar_core.modeldir import load_pvae

    pvae, mean, std = load_pvae(model_dir, "cpu")
    return evaluate.evaluate_reconstruction(pvae, mean, std, ev, clips, repeats=repeats, seed=SEEDS["eval"])


# ----------------------------------------------------------------------------------------------------
# Reading the results


def compare(a: dict, b: dict, lower_is_better: bool) -> str:
    """'better' / 'worse' / 'tie' for a vs b, counting a difference only beyond the combined 95 % CIs."""
    diff = a["mean"] - b["mean"]
    margin = float(np.hypot(a["ci95"], b["ci95"]))
    if abs(diff) <= margin:
        return "tie"
    better = diff < 0 if lower_is_better else diff > 0
    return "better" if better else "worse"


def fmt(est: dict | None, digits: int = 3) -> str:
    if est is None:
        return "n/a"
    return f"{est['mean']:.{digits}f} ± {est['ci95']:.{digits}f}"


def claims(results: dict, ratios: dict[float, str]) -> list[dict]:
    """The paper's claims, each checked on our numbers."""
    gen = results["generation"]
    rec = results["reconstruction"]
    out = []

    def check(text, a, b, metric, lower):
        if a in gen and b in gen:
            verdict = compare(gen[a][metric], gen[b][metric], lower)
            out.append({"claim": text, "metric": metric, "a": a, "b": b, "verdict": verdict,
                        "a_value": gen[a][metric], "b_value": gen[b][metric]})

    noisy_claim = "Table 1: on noisy data RoPAR beats the full-body baseline"
    clean_claim = "Table 1: on clean data RoPAR is competitive with the baseline"
    nopart_claim = "Table 2: RoPAR beats RoPAR w/o part decomposition"
    nodiff_claim = "Table 2: RoPAR beats RoPAR w/o diffusion head"
    for text, a, b in ((noisy_claim, "ropar@noisy", "baseline@noisy"),
                       (clean_claim, "ropar@clean", "baseline@clean"),
                       (nopart_claim, "ropar@noisy", "ropar-nopart@noisy"),
                       (nodiff_claim, "ropar@noisy", "ropar-nodiffusion@noisy")):
        check(text, a, b, "fid", True)
        check(text, a, b, "r1", False)
    for other, label in (("ropar-nopart@noisy", "w/o part decomposition"),
                         ("pvae-noshared@noisy", "w/o shared parameters")):
        for metric in ("fid", "mpjpe_mm"):
            if "ropar@noisy" in rec and other in rec:
                a_val, b_val = rec["ropar@noisy"][metric], rec[other][metric]
                out.append({"claim": f"Table 2: P-VAE beats P-VAE {label}", "metric": metric,
                            "a": "ropar@noisy", "b": other, "verdict": compare(a_val, b_val, True),
                            "a_value": a_val, "b_value": b_val})
    for metric in ("fid", "r1"):
        spans = {}
        for method in ("ropar", "baseline"):
            vals = [gen[f"{method}@{ratios[r]}"][metric]["mean"] for r in sorted(ratios)
                    if f"{method}@{ratios[r]}" in gen]
            if len(vals) >= 2:
                spans[method] = (max(vals) - min(vals), vals)
        if len(spans) == 2:
            verdict = "better" if spans["ropar"][0] < spans["baseline"][0] else "worse"
            out.append({"claim": "Fig. 3: RoPAR varies less than the baseline across credible-token ratios",
                        "metric": metric, "a": "ropar", "b": "baseline", "verdict": verdict,
                        "a_value": {"range": spans["ropar"][0], "values": spans["ropar"][1]},
                        "b_value": {"range": spans["baseline"][0], "values": spans["baseline"][1]}})
    return out


def plot_fig3(results: dict, ratios: dict[float, str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gen = results["generation"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, metric, title in ((axes[0], "fid", "FID ↓"), (axes[1], "r1", "R@1 ↑")):
        for method, style in (("ropar", "o-"), ("baseline", "s--")):
            xs, ys, es = [], [], []
            for r in sorted(ratios):
                key = f"{method}@{ratios[r]}"
                if key in gen:
                    xs.append(100 * r)
                    ys.append(gen[key][metric]["mean"])
                    es.append(gen[key][metric]["ci95"])
            if xs:
                ax.errorbar(xs, ys, yerr=es, fmt=style, capsize=3,
                            label="RoPAR" if method == "ropar" else "full-body baseline")
        real = results.get("real", {}).get(metric)
        if real is not None and metric == "r1":
            ax.axhline(real["mean"], color="grey", lw=0.8, ls=":", label="real motions")
        ax.set_xlabel("credible tokens in training data (%)")
        ax.set_title(title)
        ax.set_xticks([100 * r for r in sorted(ratios)])
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle("Sensitivity to the share of credible tokens (cf. paper Fig. 3)", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def write_markdown(results: dict, ratios: dict[float, str], path: Path) -> None:
    gen, rec, real = results["generation"], results["reconstruction"], results.get("real", {})
    meta = results["meta"]
    lines = [f"# RoPAR on our data: the paper's tables, preset `{meta['preset']}`", ""]
    stages = meta["stage_seconds"]
    train_s = sum(v for k, v in stages.items() if not k.split("/")[-1].startswith("eval"))
    lines += [f"Generated by `{meta['command']}` on {meta['machine']}. Compute summed over every stage "
              f"(also those of earlier, resumed invocations): {meta['compute_seconds'] / 60:.1f} min "
              f"({train_s / 60:.1f} min training, {(meta['compute_seconds'] - train_s) / 60:.1f} min "
              f"evaluation); this invocation: {meta['wall_seconds'] / 60:.1f} min wall. Per-stage seconds "
              "are in report.json (meta.stage_seconds).", "", meta["budget_note"], ""]
    lines += ["Every number: mean ± 95 % CI (1.96·std/√n, ddof 0) over "
              f"{meta['repeats']} evaluation runs (fresh caption draws, crops and sampling seeds) on "
              f"{meta['num_test']} clean test motions. Each configuration is trained once "
              f"(seeds: {meta['seeds']}), so the CIs do not include training-seed variance.", ""]
    ev = meta["evaluator"]
    lines += ["## The judge", "",
              f"Evaluator `{ev['dir']}` (TMR-style, trained on the clean cache only). Its own retrieval on "
              f"the real test motions: R@1/2/3 in batches of 32 = {ev.get('guo_r', 'n/a')}; "
              f"same (content, style) counted as a match: {ev.get('guo_r_label', 'n/a')}; whole test set "
              f"R@1/5/10 = {ev.get('full_r_t2m', 'n/a')} ({ev.get('train_steps')} training steps, negatives "
              f"filtered by `{ev.get('negative_filter')}`). R-precision counts identical captions in a batch "
              "as matches; captions are paraphrases drawn per clip, so even real motions stay well below 1.",
              ""]
    cols = ("fid", "r1", "r2", "r3", "mm_dist", "diversity")
    head = "| model | train data | FID ↓ | R@1 ↑ | R@2 ↑ | R@3 ↑ | MM-Dist ↓ | Diversity → |"
    sep = "|---|---|---|---|---|---|---|---|"
    lines += ["## Table 1: RoPAR vs a full-body masked-autoregressive baseline", "", head, sep]
    if real:
        lines.append("| real motions | — | " + " | ".join(fmt(real.get(c)) for c in cols) + " |")
    for d in ("clean", "noisy"):
        for method in ("baseline", "ropar"):
            key = f"{method}@{d}"
            if key in gen:
                label = "RoPAR" if method == "ropar" else "full-body baseline (all frames credible)"
                lines.append(f"| {label} | {d} | " + " | ".join(fmt(gen[key].get(c)) for c in cols) + " |")
    lines += ["", "Real motions: FID compares the test motions with as many motions of the val split "
              "(other takes, another mix of contents): how far two real sets lie apart, not a lower bound; a "
              "model's FID compares its motions with the ground truth of its own items and can be lower.",
              ""]
    lines += ["## Table 2: ablations on the noisy data", "", "| reconstruction | FID ↓ | MPJPE (mm) ↓ |",
              "|---|---|---|"]
    for key, label in (("ropar@noisy", "P-VAE"), ("ropar-nopart@noisy", "w/o part decomposition"),
                       ("pvae-noshared@noisy", "w/o shared parameters")):
        if key in rec:
            lines.append(f"| {label} | {fmt(rec[key]['fid'])} | {fmt(rec[key]['mpjpe_mm'], 1)} |")
    lines += ["", "MPJPE: joints from `features_to_joints`, root-aligned per frame (pelvis subtracted), mm, "
              "on the clean test motions.", "", "| generation | FID ↓ | R@1 ↑ |", "|---|---|---|"]
    for key, label in (("ropar@noisy", "RoPAR"), ("ropar-nopart@noisy", "w/o part decomposition"),
                       ("ropar-nodiffusion@noisy", "w/o diffusion head")):
        if key in gen:
            lines.append(f"| {label} | {fmt(gen[key]['fid'])} | {fmt(gen[key]['r1'])} |")
    lines += ["", "## Fig. 3: FID and R@1 vs the share of credible tokens", "", "![fig3](fig3.png)", "",
              "| credible tokens (target) | measured | RoPAR FID | baseline FID | RoPAR R@1 | baseline R@1 |",
              "|---|---|---|---|---|---|"]
    for r in sorted(ratios):
        d = ratios[r]
        measured = meta["credible_token_ratio"].get(d)
        m = f"{100 * measured:.0f} %" if measured is not None else "n/a"
        ours, base = gen.get(f"ropar@{d}", {}), gen.get(f"baseline@{d}", {})
        lines.append(f"| {100 * r:.0f} % ({d}) | {m} | {fmt(ours.get('fid'))} | {fmt(base.get('fid'))} | "
                     f"{fmt(ours.get('r1'))} | {fmt(base.get('r1'))} |")
    lines += ["", "## Do the paper's claims hold here?", "",
              "A difference counts only when it exceeds the combined 95 % CIs (√(ci_a² + ci_b²)); "
              "otherwise it is a tie.", "", "| claim | metric | verdict |", "|---|---|---|"]
    for c in results["claims"]:
        lines.append(f"| {c['claim']} | {c['metric']} | {c['verdict']} |")
    lines += ["", "### Reading", ""] + [f"- {s}" for s in results["reading"]] + [""]
    lines += ["## Commands", "", "```"] + results["commands"] + ["```", ""]
    write_text(path, "\n".join(lines))


def reading(claim_list: list[dict], preset: str) -> list[str]:
    """Plain sentences on the verdicts, grouped by claim."""
    out = []
    by_claim: dict[str, list[dict]] = {}
    for c in claim_list:
        by_claim.setdefault(c["claim"], []).append(c)
    for claim, items in by_claim.items():
        verdicts = {c["metric"]: c["verdict"] for c in items}
        values = set(verdicts.values())
        if values == {"better"}:
            word = "holds"
        elif values == {"tie"}:
            word = "is not shown (ties within the CIs)"
        elif "better" in values and "worse" in values:
            word = "is mixed"
        elif "better" in values:
            word = "holds in part (the rest are ties)"
        elif values == {"worse"}:
            word = "is contradicted"
        else:
            word = "is contradicted in part (the rest are ties)"
        if claim.startswith("Table 1: on clean") and values <= {"better", "tie"}:
            word = "holds (competitive = not worse)"
        detail = ", ".join(f"{m}: {v}" for m, v in verdicts.items())
        out.append(f"{claim} — {word} ({detail}).")
    if preset != "full":
        out.append(f"The `{preset}` budget trains tiny models for at most a few hundred steps on a shared "
                   "CPU; the models are far from converged, so these verdicts describe this budget, not the "
                   "method.")
    return out


def signal_check(results: dict) -> list[str]:
    """How far the generated motions are from chance and from real motions: says whether the numbers can
    tell methods apart at all."""
    gen, real = results["generation"], results.get("real", {})
    if not gen:
        return []
    chance = 1.0 / 32
    above = [k for k, v in gen.items() if v["r1"]["mean"] - v["r1"]["ci95"] > chance]
    best = max(gen, key=lambda k: gen[k]["r1"]["mean"])
    fids = sorted(v["fid"]["mean"] for v in gen.values())
    lines = [f"{len(above)} of {len(gen)} trained models have R@1 above chance (1/32 = {chance:.3f}) beyond "
             f"their CI; the best is {best} with {fmt(gen[best]['r1'])}"
             + (f", real motions reach {fmt(real['r1'])}." if "r1" in real else "."),
             f"Generated FIDs span {fids[0]:.3f}–{fids[-1]:.3f}"
             + (f" (real test vs real val: {fmt(real['fid'])})." if "fid" in real else ".")]
    return lines


# ----------------------------------------------------------------------------------------------------
# Orchestration


def _retrieval_summary(ev_dir: Path) -> dict:
    config = json.loads((ev_dir / "config.json").read_text(encoding="utf-8"))
    r = config.get("retrieval", {})

    def short(d):  # {"R@1": .., "R@10": .., "R@5": ..} (sorted as text in config.json) -> "r1/r5/r10"
        if d is None:
            return None
        return "/".join(f"{d[k]:.3f}" for k in sorted(d, key=lambda k: int(k.split("@")[1])))

    return {"dir": shown(ev_dir), "guo_r": short(r.get("guo_r")), "guo_r_label": short(r.get("guo_r_label")),
            "full_r_t2m": short(r.get("full_r_t2m")),
            "negative_filter": config["evaluator"]["negative_filter"],
            "train_steps": config.get("train", {}).get("step")}


def ratio_caches(caches_root: Path) -> dict[float, str]:
    """Credible-token ratio -> cache name for Fig. 3. A variant identical to the main noisy cache (same
    fingerprint, e.g. noisy_r50 when prepare's --noisy-ratio is 0.5) is replaced by "noisy", so the same
    data is not trained on twice."""
    def fingerprint(name):
        meta = json.loads((caches_root / name / "meta.json").read_text(encoding="utf-8"))
        return meta.get("fingerprint") or name

    noisy_print = fingerprint("noisy")
    out = {}
    for ratio, name in RATIO_CACHES.items():
        if (caches_root / name / "meta.json").is_file():
            out[ratio] = "noisy" if name != "clean" and fingerprint(name) == noisy_print else name
    return out


def build_report(preset: str, out: Path, caches_root: Path, work: Path, evaluator_dir: Path | None,
                 repeats: int | None = None, limit: int | None = None, command: str = "") -> dict:
    if preset not in PRESETS:
        raise RoparError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = json.loads(json.dumps(PRESETS[preset]))  # a private copy
    if repeats is not None:
        cfg["eval"]["repeats"] = repeats
    if limit is not None:
        cfg["eval"]["limit"] = limit
    if cfg.get("eval_threads") or cfg["threads"]:
        torch.set_num_threads(cfg.get("eval_threads") or cfg["threads"])  # training sets its own (--threads)
    t_start = time.time()
    work.mkdir(parents=True, exist_ok=True)

    for name in ("clean", "noisy"):
        if not (caches_root / name / "meta.json").is_file():
            raise RoparError(f"missing cache {caches_root / name}; build it with python -m training.prepare")
    ratios = ratio_caches(caches_root)
    caches: dict[str, Path] = {}
    for name in dict.fromkeys(["clean", "noisy", *ratios.values()]):
        caches[name] = caches_root / name
        if name != "clean":
            caches[f"{name}-blind"] = blind_cache(caches_root / name, work / "caches" / f"{name}-blind")
    timings = Timings(work / "timings.json")
    record: dict = {"commands": [], "timings": timings}

    # The judge.
    from ropar_core.text import TextEncoder

    text_encoder = TextEncoder(None, device="cpu")
    evaluator_dir = evaluator_dir or work / "evaluator"
    if not (evaluator_dir / "config.json").is_file():
        from training.train.train_evaluator import train_evaluator

        e = cfg["evaluator"]
        _log(f"training the evaluator in {evaluator_dir}")
        t0 = time.time()
        train_evaluator(caches["clean"], evaluator_dir, e["preset"], steps=e["steps"],
                        seed=SEEDS["evaluator"], text_encoder=text_encoder, log=_log)
        timings.add("evaluator/train", time.time() - t0)
    ev = TextMotionEvaluator.from_dir(evaluator_dir, text_encoder=text_encoder)
    t = ev.config.get("train", {})
    record["commands"].append(f"python -m training.train_evaluator --data {shown(t.get('data'))} --out "
                              f"{shown(evaluator_dir)} --preset {t.get('preset')} --steps {t.get('steps')} "
                              f"--seed {t.get('seed')}")
    clips = evaluate.subset(load_clips(caches["clean"], "test"), cfg["eval"]["limit"], SEEDS["eval"])
    reps = cfg["eval"]["repeats"]

    results: dict = {"generation": {}, "reconstruction": {}}
    reference = evaluate._reference_split(str(caches["clean"]), "test")
    results["real"] = _cached_eval(work / "eval_real.json", {"n": len(clips), "repeats": reps,
                                                            "evaluator": str(evaluator_dir)},
                                   lambda: evaluate.evaluate_real(ev, clips, reference, reps, SEEDS["eval"]),
                                   timings, "real/eval")
    for run in plan(ratios):
        _log(f"run {run.name}")
        dirs = train_run(run, caches, work, cfg, record, text_encoder)
        if cfg.get("eval_threads"):
            torch.set_num_threads(cfg["eval_threads"])  # training changed it
        eval_key = {"eval": cfg["eval"], "n": len(clips), "evaluator": str(evaluator_dir)}
        if not run.pvae_from and run.name in ("ropar@noisy", "ropar-nopart@noisy", "pvae-noshared@noisy"):
            key = {**eval_key, **_model_key(dirs["pvae"])}
            results["reconstruction"][run.name] = _cached_eval(
                work / _slug(run.name) / "eval_reconstruction.json", key,
                lambda d=dirs["pvae"]: evaluate_pvae_dir(d, ev, clips, reps), timings, f"{run.name}/eval_rec")
        if "ropar" in dirs:
            key = {**eval_key, **_model_key(dirs["ropar"])}
            t0 = time.time()
            results["generation"][run.name] = _cached_eval(
                work / _slug(run.name) / "eval_generation.json", key,
                lambda d=dirs["ropar"]: evaluate_generator_dir(d, ev, clips, text_encoder, cfg, reps),
                timings, f"{run.name}/eval_gen")
            _log(f"{run.name}: FID {fmt(results['generation'][run.name]['fid'])} "
                 f"R@1 {fmt(results['generation'][run.name]['r1'])} ({time.time() - t0:.0f}s)")

    results["claims"] = claims(results, ratios)
    results["reading"] = signal_check(results) + reading(results["claims"], preset)
    results["commands"] = record["commands"]
    results["meta"] = {
        "preset": preset,
        "command": command or f"python -m training.report --preset {preset} --out {shown(out)}",
        "wall_seconds": time.time() - t_start, "stage_seconds": timings.data,
        "compute_seconds": sum(timings.data.values()),
        "machine": (f"{os.cpu_count()} CPU cores shared with other jobs (training --threads "
                    f"{cfg['threads']}, evaluation {cfg.get('eval_threads') or cfg['threads']} thread(s))"),
        "repeats": reps, "num_test": len(clips),
        "seeds": SEEDS, "budget": cfg, "evaluator": _retrieval_summary(evaluator_dir),
        "credible_token_ratio": {n: Cache(p).credible_token_ratio("train") for n, p in caches.items()
                                 if not n.endswith("-blind")},
        "ratio_caches": {str(r): n for r, n in ratios.items()},
        "budget_note": (f"Budget `{preset}`: P-VAE preset `{cfg['pvae']['preset']}` × {cfg['pvae']['steps']} "
                        f"steps, RoPAR preset `{cfg['ropar']['preset']}` × {cfg['ropar']['steps']} steps, "
                        f"{cfg['eval']['steps']} unmasking steps at evaluation, evaluator preset "
                        f"`{cfg['evaluator']['preset']}`."),
    }
    out.mkdir(parents=True, exist_ok=True)
    plot_fig3(results, ratios, out / "fig3.png")
    try:  # the judge check and the key-claim experiment (key_claim.py) add blocks of their own: keep them
        earlier = json.loads((out / "report.json").read_text(encoding="utf-8"))
        results.update({k: earlier[k] for k in ("judge", "key_claim") if k in earlier})
    except (OSError, ValueError):
        pass
    write_text(out / "report.json", json.dumps(results, indent=1, default=float) + "\n")
    write_markdown(results, ratios, out / "report.md")
    _log(f"wrote {out / 'report.md'} in {(time.time() - t_start) / 60:.1f} min")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.report", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS))
    parser.add_argument("--out", default="reports", help="where report.md / report.json / fig3.png go")
    parser.add_argument("--caches", default=str(REPO / "data" / "cache"),
                        help="directory holding clean/, noisy/, noisy_r30/, noisy_r50/, noisy_r70/")
    parser.add_argument("--work", help="trained models and per-run results (default runs/report-PRESET)")
    parser.add_argument("--evaluator", help="a trained evaluator (default: runs/evaluator when it exists, "
                        "else one is trained in WORK/evaluator)")
    parser.add_argument("--repeats", type=int, help="evaluation repeats (default: the preset's)")
    parser.add_argument("--limit", type=int, help="evaluate on a seeded random subset of N test clips")
    parser.add_argument("--fresh", action="store_true", help="delete WORK first")
    args = parser.parse_args(argv)
    work = Path(args.work) if args.work else REPO / "runs" / f"report-{args.preset}"
    if args.fresh and work.exists():
        shutil.rmtree(work)
    evaluator = Path(args.evaluator) if args.evaluator else None
    shared = REPO / "runs" / "evaluator"
    if evaluator is None and (shared / "config.json").is_file() and args.preset != "tiny":
        evaluator = shared
    command = "python -m training.report " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        build_report(args.preset, Path(args.out), Path(args.caches), work, evaluator, args.repeats,
                     args.limit, command)
    except RoparError as exc:
        print(f"report: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
