"""Reading the key-claim runs (training.key_claim): per-arm blocks over seeds, the verdict beyond the
Welch interval, the sentences of the report, and report.json / key_claim.md from the run records on disk.
Nothing here trains or evaluates; `python -m training.key_claim --report-only` calls `assemble`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ropar_core.atomic import write_text
from ropar_core.errors import RoparError
from training.evaluation import metrics
from training.experiments.arms import ARMS, stage_of

R1_TARGET = 0.45
MIN_SEEDS, MIN_TEST_CLIPS = 3, 290


def arm_block(records: list[dict]) -> dict:
    recs = sorted(records, key=lambda r: r["seed"])
    out = {"seeds": [r["seed"] for r in recs]}
    for metric in ("fid", "r1", "r2", "r3", "mm_dist", "diversity", "multimodality", "mpjpe_mm"):
        if all(metric in r["metrics"] for r in recs) and recs:
            out[metric] = [float(np.mean(r["metrics"][metric])) for r in recs]
            out[f"{metric}_repeats"] = [r["metrics"][metric] for r in recs]
            if len(recs) >= 2:
                out[f"{metric}_interval"] = metrics.t_interval(out[metric]).to_dict()
    return out


def verdict(arms: dict) -> tuple[str, dict]:
    """ropar vs blind per metric, beyond the Welch interval of the difference over seeds."""
    a, b = arms.get("ropar", {}), arms.get("blind", {})
    if len(a.get("seeds", [])) < 2 or len(b.get("seeds", [])) < 2:
        return "undecided: fewer than two seeds in an arm", {}
    per = {}
    for metric, lower in (("fid", True), ("r1", False)):
        d = metrics.welch_difference(a[metric], b[metric])
        beyond = abs(d.mean) > d.ci95
        better = (d.mean < 0) if lower else (d.mean > 0)
        per[metric] = {**d.to_dict(), "ropar_minus_blind": d.mean,
                       "call": ("ropar better" if better else "blind better") if beyond else "tie"}
    calls = {v["call"] for v in per.values()}
    if calls == {"tie"}:
        word = "tie: no difference beyond the intervals"
    elif "blind better" not in calls:
        word = "ropar better"
    elif "ropar better" not in calls:
        word = "blind better"
    else:
        word = "mixed"
    return word, per


def _budget(record: dict) -> str:
    """What a record was measured with besides data and seed: code version, judge, budget, evaluation."""
    key = record.get("key", {})
    return json.dumps({k: key.get(k) for k in ("version", "evaluator", "pvae", "ropar", "eval")},
                      sort_keys=True)


def load_records(out: Path, data: dict | None) -> tuple[list[dict], dict | None]:
    """Run records of one noisy cache (`data`, or None: the cache most records are about) and one
    budget and evaluation (those of most generation runs), so runs measured differently never mix."""
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "key_claim").glob("*.json"))]
    if data is None and records:
        ids = [json.dumps(r["key"]["data"], sort_keys=True) for r in records]
        data = json.loads(max(set(ids), key=ids.count))
    records = [r for r in records if r.get("key", {}).get("data") == data]
    gen = [_budget(r) for r in records if r["kind"] in ARMS]
    if gen:
        chosen = json.loads(max(set(gen), key=gen.count))
        want = {"ropar": json.dumps(chosen, sort_keys=True),
                "pvae": json.dumps({**chosen, "ropar": None}, sort_keys=True)}  # P-VAE keys: no RoPAR budget
        records = [r for r in records if _budget(r) == want[stage_of(r["kind"])]]
    return records, data


def key_claim_block(records: list[dict], data: dict) -> dict:
    arms = {arm: arm_block([r for r in records if r["kind"] == arm]) for arm in ARMS}
    recon = {k: arm_block([r for r in records if r["kind"] == k]) for k in ("pvae", "pvae_fullbody")}
    word, per = verdict(arms)
    clips = sorted({r["test_clips"] for r in records})
    ropar_r1 = float(np.mean(arms["ropar"]["r1"])) if arms["ropar"].get("r1") else None
    complete = (min(len(arms[a]["seeds"]) for a in ("ropar", "blind")) >= MIN_SEEDS
                and bool(clips) and min(clips) >= MIN_TEST_CLIPS)
    gen = [r for r in records if r["kind"] in ARMS] or records
    key = gen[0]["key"] if gen else {}
    return {"credible_ratio": data.get("credible_token_ratio"),
            "noise_mode": data.get("noise_mode") or "limbs",
            "cache": data.get("name"), "test_clips": clips[0] if len(clips) == 1 else clips,
            "preset": sorted({r.get("preset", "?") for r in records}),
            "budget": {k: key.get(k) for k in ("pvae", "ropar", "eval")},
            "unmasking_steps": key.get("eval", {}).get("steps"),
            "arms": arms, "reconstruction": recon, "verdict": word, "per_metric": per,
            "ropar_r1": ropar_r1, "r1_target": R1_TARGET,
            "r1_target_met": ropar_r1 is not None and ropar_r1 >= R1_TARGET, "complete": complete}


def reading(block: dict, judge: dict | None) -> list[str]:
    """Plain sentences, whichever way the numbers fall."""
    lines = []
    if judge and judge.get("by_cache"):
        vis = [c for c in judge["by_cache"] if c["summary"]["r1_noisy_minus_clean"]["visible"]
               or c["summary"]["fid_noisy_minus_clean"]["visible"]]
        lines.append(f"Judge check: the noise is visible to the evaluator in {len(vis)} of "
                     f"{len(judge['by_cache'])} noisy caches (noisy vs clean ground truth, beyond the "
                     "Student-t interval of the paired difference).")
    arms = block["arms"]
    if block["per_metric"]:
        parts = [f"{m}: ropar - blind = {v['mean']:+.4f} ± {v['ci95']:.4f} ({v['call']})"
                 for m, v in block["per_metric"].items()]
        lines.append(f"Verdict ({len(arms['ropar']['seeds'])} vs {len(arms['blind']['seeds'])} seeds): "
                     f"{block['verdict']}; " + "; ".join(parts) + ".")
    else:
        lines.append(f"Verdict: {block['verdict']}.")
    lines += scale_reading(block, judge)
    full, ropar = arms.get("fullbody", {}), arms.get("ropar", {})
    if len(full.get("seeds", [])) >= 2 and len(ropar.get("seeds", [])) >= 2:
        parts = []
        for m in ("fid", "r1"):
            d = metrics.welch_difference(full[m], ropar[m])
            call = "beyond the interval" if abs(d.mean) > d.ci95 else "tie"
            parts.append(f"{m} {d.mean:+.4f} ± {d.ci95:.4f} ({call})")
        lines.append("Second row, the full-body baseline (its own P-VAE and RoPAR, both blind) minus ropar: "
                     + "; ".join(parts) + ".")
    if block["ropar_r1"] is not None and not block["r1_target_met"]:
        lines.append(f"The credibility-aware arm reaches R@1 {block['ropar_r1']:.3f} < {R1_TARGET}: at this "
                     f"budget (`{', '.join(block['preset'])}`) the models have not learned enough for the "
                     "claim to be "
                     "tested; the verdict describes this budget only.")
    if not block["complete"]:
        lines.append(f"Incomplete: the claim needs >= {MIN_SEEDS} seeds per arm on >= {MIN_TEST_CLIPS} test "
                     "clips; rerun the same command to add the missing runs.")
    return lines


def scale_reading(block: dict, judge: dict | None) -> list[str]:
    """How large the noise is next to the models' own error: the judge's noisy ground truth is the most
    a blind model that learnt the noise exactly could lose; if the arms are further from the data than
    that, their own error and not the noise decides what the judge sees."""
    arms = block["arms"]
    if not judge or not judge.get("by_cache") or not arms["blind"].get("fid") or not arms["ropar"].get("fid"):
        return []
    cache = min(judge["by_cache"], key=lambda c: abs(c["credible_ratio"] - (block["credible_ratio"] or 0)))
    s = cache["summary"]
    noise_fid = s["noisy_gt_fid"]["mean"] - s["clean_gt_fid"]["mean"]
    blind_fid, ropar_fid = float(np.mean(arms["blind"]["fid"])), float(np.mean(arms["ropar"]["fid"]))
    blind_r1 = float(np.mean(arms["blind"]["r1"]))
    return [f"Scale: the noisy ground truth itself scores FID {s['noisy_gt_fid']['mean']:.4f} and R@1 "
            f"{s['noisy_gt_r1']['mean']:.3f} (clean {s['clean_gt_fid']['mean']:.4f} / "
            f"{s['clean_gt_r1']['mean']:.3f}): a blind model that learnt the noise exactly would lose "
            f"{-s['r1_noisy_minus_clean']['mean']:.3f} R@1 and {noise_fid:.4f} FID. The arms' own FID (blind "
            f"{blind_fid:.4f}, ropar {ropar_fid:.4f}) is {blind_fid / max(noise_fid, 1e-9):.1f}x / "
            f"{ropar_fid / max(noise_fid, 1e-9):.1f}x that noise effect: at this budget the models' own "
            "error weighs more than the noise, and what masking can win is bounded by about that effect. "
            + (f"The blind arm's R@1 {blind_r1:.3f} is above the noisy ground truth's: it did not learn the "
               "noise as it is." if blind_r1 > s["noisy_gt_r1"]["mean"] else "")]


def merge_report(out: Path, judge: dict | None, block: dict) -> None:
    """report.json keeps everything training.report wrote and gains `judge` and `key_claim`."""
    path = out / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = {}
    if judge is not None:
        report["judge"] = judge
    report["key_claim"] = block
    write_text(path, json.dumps(report, indent=1, default=float) + "\n")


def judge_block(out: Path, mode: str) -> dict | None:
    from training.experiments.judge_check import collect

    paths = sorted((out / "judge").glob("*.json"))
    results = [json.loads(p.read_text(encoding="utf-8"))["result"] for p in paths]
    same = [r for r in results if r.get("noise_mode", "limbs") == mode] or results
    return collect(same) if same else None


def write_markdown(out: Path, block: dict) -> None:
    lines = ["# The key claim: credibility-aware vs credibility-blind, same model", "",
             f"Noise mode `{block['noise_mode']}`, credible-token ratio {block['credible_ratio']}, "
             f"{block['test_clips']} test clips, {block['unmasking_steps']} unmasking steps, "
             f"{'raw' if block['budget'].get('eval', {}).get('raw') else 'cleaned'} model output, preset "
             f"`{', '.join(block['preset'])}`. Per seed: mean over evaluation repeats; ± = 95 % "
             "Student-t over "
             "seeds.", "",
             "| arm | seeds | FID ↓ | R@1 ↑ | MultiModality |", "|---|---|---|---|---|"]
    for arm in ARMS:
        a = block["arms"][arm]

        def cell(m, a=a):
            iv = a.get(f"{m}_interval")
            if iv:
                return f"{iv['mean']:.4f} ± {iv['ci95']:.4f}"
            return ", ".join(f"{v:.4f}" for v in a.get(m, []))
        row = [str(len(a["seeds"])), cell("fid"), cell("r1"), cell("multimodality")]
        lines.append(f"| {arm} | " + " | ".join(row) + " |")
    lines += ["", "## Reading", ""] + [f"- {s}" for s in block["reading"]] + [""]
    write_text(out / "key_claim.md", "\n".join(lines))


def assemble(out: Path, data: dict | None) -> dict:
    """report.json's judge + key_claim blocks and key_claim.md from the run records on disk."""
    records, data = load_records(out, data)
    if not records:
        raise RoparError(f"no finished runs in {out / 'key_claim'}")
    block = key_claim_block(records, data)
    judge = judge_block(out, block["noise_mode"])
    block["reading"] = reading(block, judge)
    merge_report(out, judge, block)
    write_markdown(out, block)
    return block
