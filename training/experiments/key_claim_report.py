"""Reading the key-claim runs (training.key_claim): per-arm blocks over seeds, the verdict beyond the
Welch interval, the sentences of the report, and report.json / key_claim.md from the run records on disk.
Nothing here trains or evaluates; `python -m training.key_claim --report-only` calls `assemble`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ropar_core.atomic import write_text
from ropar_core.errors import RoparError
from training.evaluation import metrics, statistics
from training.experiments.arms import ARMS, KEY_CLAIM_ARMS, PVAES, stage_of

R1_TARGET = 0.45
MIN_TEST_CLIPS = 288
# Seeds each arm needs before the experiment is complete: the primary pair more (the paired test's
# power grows with them), the other arms three.
MIN_SEEDS, PRIMARY_SEEDS = 3, 8
# The blind baseline the verdict is about: the paper's (P-VAE and RoPAR both blind) when it has paired
# seeds with ropar, else Eq. 2 alone.
PRIMARY = ("blind_both", "blind")
METRICS = ("fid", "r1")
# Run records: <out>/runs/<cache name>/<run>.json (training.key_claim.records_dir).
RECORDS = "runs"


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


def by_seed(block: dict, metric: str) -> dict[int, float]:
    return dict(zip(block.get("seeds", []), block.get(metric, []), strict=False))


def compare(arms: dict, a: str, b: str) -> dict | None:
    """a vs b paired by seed: per metric the difference a - b (mean, ci95, p, sd, n, the effect found
    with 80 % power), its call, how often a is ahead, and the seeds the observed gap would need; and
    the overall verdict. None without two shared seeds."""
    x, y = arms.get(a, {}), arms.get(b, {})
    shared = sorted(set(x.get("seeds", [])) & set(y.get("seeds", [])))
    if len(shared) < 2 or any(m not in x or m not in y for m in METRICS):
        return None
    per = {}
    for m in METRICS:
        d = statistics.paired_difference(by_seed(x, m), by_seed(y, m))
        ahead = sum((v < 0) if statistics.LOWER_IS_BETTER[m] else (v > 0)
                    for v in (by_seed(x, m)[s] - by_seed(y, m)[s] for s in shared))
        per[m] = {**d.to_dict(), "call": statistics.call(d, m, a, b), "a_ahead": int(ahead),
                  "margin": statistics.MARGINS[m],
                  "seeds_for_observed": statistics.seeds_needed(d.mean, d.sd)}
    return {"a": a, "b": b, "seeds": shared, **per,
            "verdict": statistics.overall({m: per[m]["call"] for m in METRICS}, a, b)}


def paired_block(arms: dict) -> dict:
    """report.json's key_claim.paired: "ropar-<arm>" for every other arm with two shared seeds."""
    return {f"ropar-{arm}": c for arm in arms if arm != "ropar" and (c := compare(arms, "ropar", arm))}


def verdict(arms: dict) -> tuple[str, dict]:
    """The key claim's verdict: ropar against the primary blind arm (PRIMARY's first with two seeds
    shared with ropar), paired by seed. Returns (word, {"against": arm, metric: {...}})."""
    for arm in PRIMARY:
        c = compare(arms, "ropar", arm)
        if c is not None:
            return c["verdict"], {"against": arm, **{m: c[m] for m in METRICS}}
    return "undecided: fewer than two seeds shared by ropar and a blind arm", {}


def _budget(record: dict) -> str:
    """What a record was measured with besides data and seed: code version, judge, budget, evaluation."""
    key = record.get("key", {})
    return json.dumps({k: key.get(k) for k in ("version", "evaluator", "pvae", "ropar", "eval")},
                      sort_keys=True)


def load_records(out: Path, data: dict | None) -> tuple[list[dict], dict | None]:
    """Run records of one noisy cache (`data`, or None: the cache with the most runs of the primary blind
    arm) and one budget and evaluation (those of most generation runs), so runs measured differently
    never mix."""
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / RECORDS).glob("*/*.json"))]
    if data is None and records:
        ids = [json.dumps(r["key"]["data"], sort_keys=True) for r in records if r["kind"] in PRIMARY]
        ids = ids or [json.dumps(r["key"]["data"], sort_keys=True) for r in records]
        data = json.loads(max(set(ids), key=ids.count))
    records = [r for r in records if r.get("key", {}).get("data") == data]
    gen = [_budget(r) for r in records if r["kind"] in ARMS]
    if gen:
        chosen = json.loads(max(set(gen), key=gen.count))
        want = {"ropar": json.dumps(chosen, sort_keys=True),
                "pvae": json.dumps({**chosen, "ropar": None}, sort_keys=True)}  # P-VAE keys: no RoPAR budget
        records = [r for r in records if _budget(r) == want[stage_of(r["kind"])]]
    return records, data


def seeds_wanted(arm: str) -> int:
    return PRIMARY_SEEDS if arm in ("ropar", PRIMARY[0]) else MIN_SEEDS


def key_claim_block(records: list[dict], data: dict) -> dict:
    arms = {arm: arm_block([r for r in records if r["kind"] == arm]) for arm in KEY_CLAIM_ARMS}
    recon = {k: arm_block([r for r in records if r["kind"] == k]) for k in PVAES if k != "pvae_noshared"}
    word, per = verdict(arms)
    clips = sorted({r["test_clips"] for r in records})
    ropar_r1 = float(np.mean(arms["ropar"]["r1"])) if arms["ropar"].get("r1") else None
    missing = {a: seeds_wanted(a) - len(arms[a]["seeds"]) for a in KEY_CLAIM_ARMS
               if len(arms[a]["seeds"]) < seeds_wanted(a)}
    complete = not missing and bool(clips) and min(clips) >= MIN_TEST_CLIPS
    gen = [r for r in records if r["kind"] in KEY_CLAIM_ARMS] or records
    key = gen[0]["key"] if gen else {}
    return {"credible_ratio": data.get("credible_token_ratio"),
            "noise_mode": data.get("noise_mode") or "limbs",
            "cache": data.get("name"), "test_clips": clips[0] if len(clips) == 1 else clips,
            "preset": sorted({r.get("preset", "?") for r in records}),
            "budget": {k: key.get(k) for k in ("pvae", "ropar", "eval")},
            "unmasking_steps": key.get("eval", {}).get("steps"),
            "arms": arms, "reconstruction": recon, "paired": paired_block(arms),
            "verdict": word, "verdict_against": per.get("against"), "per_metric": per,
            "margins": dict(statistics.MARGINS),
            "seeds_wanted": {a: seeds_wanted(a) for a in KEY_CLAIM_ARMS},
            "seeds_missing": missing, "ropar_r1": ropar_r1, "r1_target": R1_TARGET,
            "r1_target_met": ropar_r1 is not None and ropar_r1 >= R1_TARGET, "complete": complete}


def _diff(m: str, v: dict) -> str:
    return f"{m.upper() if m == 'fid' else 'R@1'} {v['mean']:+.4f} ± {v['ci95']:.4f} (p {v['p']:.3f})"


def comparison_sentence(c: dict) -> str:
    """One paired comparison in words: the differences, how often a is ahead, and what the test
    could see with this many seeds."""
    a, b, n = c["a"], c["b"], len(c["seeds"])
    diffs = "; ".join(_diff(m, c[m]) for m in METRICS)
    ahead = ", ".join(f"{'FID' if m == 'fid' else 'R@1'} in {c[m]['a_ahead']} of {n}" for m in METRICS)
    seen = " and ".join(f"{'FID' if m == 'fid' else 'R@1'} {c[m]['detectable_at_80']:.4f}" for m in METRICS)
    need = []
    for m in METRICS:
        k = c[m]["seeds_for_observed"]
        name = "FID" if m == "fid" else "R@1"
        need.append(f"{name} {k} seeds" if k else f"{name} more than 1000 seeds")
    return (f"{a} − {b}, paired over {n} seeds {c['seeds']}: {diffs}; {a} ahead per seed in {ahead}. "
            f"With {n} seeds the paired test finds at 80 % power a difference of {seen}; 80 % power for the "
            f"observed gaps would take {', '.join(need)}. Calls: FID {c['fid']['call']}, R@1 "
            f"{c['r1']['call']} → {c['verdict']}.")


def verdict_sentence(block: dict) -> str:
    word, against = block["verdict"], block["verdict_against"]
    if against is None:
        return f"Verdict: {word}."
    margins = ", ".join(f"{'FID' if m == 'fid' else 'R@1'} {v}" for m, v in block["margins"].items())
    what = {"ropar better": "the claim holds at this budget: masking the noisy tokens beats "
                            f"training on them ({against})",
            f"{against} better": f"the claim is contradicted at this budget: the blind arm ({against}) beats "
                                 "credibility masking",
            "mixed": "the metrics disagree beyond their intervals, so the claim is neither shown nor refuted",
            "tie": f"no difference as large as the margins ({margins}): the run had the power to see one, so "
                   "at this budget masking makes no difference that matters",
            "undecided": f"no difference beyond the interval, and the run had too little power to rule out "
                         f"one as large as the margins ({margins}): the claim is neither shown nor refuted, "
                         "and more seeds are needed to decide"}
    note = ("" if against == PRIMARY[0] else
            f" ({PRIMARY[0]}, the paper's blind baseline, has no two seeds paired with ropar yet, so the "
            f"verdict is about {against})")
    if block.get("ropar_r1") is not None and not block.get("r1_target_met"):
        note += (f" — at a budget where ropar stays below R@1 {R1_TARGET}, so this describes the budget, not "
                 "the method")
    return f"Verdict, ropar vs {against}{note}: {word}: {what.get(word, word)}."


def ahead(c: dict, arm: str) -> str:
    """The metrics on which `arm` wins the paired comparison c, in words ("FID and R@1"; "" for none)."""
    return " and ".join({"fid": "FID", "r1": "R@1"}[m] for m in METRICS if c[m]["call"] == f"{arm} better")


def fullbody_sentence(c: dict) -> str | None:
    """What the full-body baseline against ropar means for the paper (Table 1 says RoPAR beats it)."""
    if c is None:
        return None
    wins, losses = ahead(c, "fullbody"), ahead(c, "ropar")
    if wins:
        return (f"The full-body baseline (no parts, P-VAE and RoPAR blind) beats ropar on "
                f"{wins} beyond the paired interval: on this data and "
                "budget the paper's Table 1 ordering (RoPAR ahead of a full-body model) is reversed, so "
                "whatever credibility masking gains within the part model, the part model as a whole does "
                "not beat the simpler one here.")
    if losses:
        return (f"ropar beats the full-body baseline on {losses} beyond the "
                "paired interval, as the paper's Table 1 says.")
    return ("ropar and the full-body baseline are not told apart by the paired test "
            f"({c['fid']['call']} on FID, {c['r1']['call']} on R@1).")


def discard_sentence(c: dict) -> str | None:
    """What the discard arm against ropar means for the paper: credibility masking is meant to make the
    noisy data useful, i.e. to beat leaving it out."""
    if c is None:
        return None
    wins, losses = ahead(c, "discard"), ahead(c, "ropar")
    if wins and not losses:
        return (f"Leaving the noisy stretches out (discard) beats masking them (ropar) on "
                f"{wins} beyond the paired interval: on this data and budget the noisy data, "
                "masked, costs more than it adds, against the paper's claim that credibility masking makes "
                "it useful.")
    if losses and not wins:
        return (f"ropar beats leaving the noisy stretches out (discard) on {losses} beyond the "
                "paired interval: the masked noisy data adds to what the clean stretches teach, as the paper "
                "claims.")
    return (f"ropar and discard are not told apart by the paired test ({c['fid']['call']} on FID, "
            f"{c['r1']['call']} on R@1).")


def reading(block: dict, judge: dict | None) -> list[str]:
    """Plain sentences, each computed from the numbers."""
    lines = []
    if judge and judge.get("by_cache"):
        vis = [c for c in judge["by_cache"] if c["summary"]["r1_noisy_minus_clean"]["visible"]
               or c["summary"]["fid_noisy_minus_clean"]["visible"]]
        lines.append(f"Judge check: the noise is visible to the evaluator in {len(vis)} of "
                     f"{len(judge['by_cache'])} noisy caches (noisy vs clean ground truth, beyond the "
                     "Student-t interval of the paired difference).")
    lines.append(verdict_sentence(block))
    for c in block["paired"].values():
        lines.append(comparison_sentence(c))
    for sentence in (fullbody_sentence(block["paired"].get("ropar-fullbody")),
                     discard_sentence(block["paired"].get("ropar-discard"))):
        if sentence:
            lines.append(sentence)
    lines += scale_reading(block, judge)
    r1 = block["ropar_r1"]
    if r1 is not None and block["r1_target_met"]:
        lines.append(f"The credibility-aware arm reaches R@1 {r1:.3f} >= {R1_TARGET}: at this budget the "
                     "models retrieve their captions well above chance.")
    elif r1 is not None:
        lines.append(f"The credibility-aware arm reaches R@1 {r1:.3f} < {R1_TARGET}: at this budget "
                     f"(`{', '.join(block['preset'])}`) the models have not learned enough for the claim to "
                     "be tested; the verdict describes this budget only.")
    if not block["complete"]:
        short = ", ".join(f"{a} {n}" for a, n in block["seeds_missing"].items())
        lines.append(f"Incomplete: the claim needs >= {PRIMARY_SEEDS} seeds for ropar and {PRIMARY[0]}, >= "
                     f"{MIN_SEEDS} for the other arms, on >= {MIN_TEST_CLIPS} test clips"
                     + (f"; seeds missing: {short}" if short else "")
                     + "; rerun the same command to add the missing runs.")
    return lines


def scale_reading(block: dict, judge: dict | None) -> list[str]:
    """How large the noise is next to the models' own error: the judge's noisy ground truth is the most
    a blind model that learnt the noise exactly could lose; whether the arms' own distance from the data
    is larger or smaller than that decides how much room masking has."""
    arms = block["arms"]
    blind = block["verdict_against"] or "blind"
    if not judge or not judge.get("by_cache") or not arms[blind].get("fid") or not arms["ropar"].get("fid"):
        return []
    cache = min(judge["by_cache"], key=lambda c: abs(c["credible_ratio"] - (block["credible_ratio"] or 0)))
    s = cache["summary"]
    noise_fid = s["noisy_gt_fid"]["mean"] - s["clean_gt_fid"]["mean"]
    blind_fid, ropar_fid = float(np.mean(arms[blind]["fid"])), float(np.mean(arms["ropar"]["fid"]))
    blind_r1 = float(np.mean(arms[blind]["r1"]))
    ratio = min(blind_fid, ropar_fid) / max(noise_fid, 1e-9)
    weigh = ("the models' own error weighs more than the noise, and what masking can win is bounded by "
             "about the noise effect" if ratio > 1 else
             "the noise effect is larger than the models' own error, so there is room for masking to show")
    out = (f"Scale: the noisy ground truth itself scores FID {s['noisy_gt_fid']['mean']:.4f} and R@1 "
           f"{s['noisy_gt_r1']['mean']:.3f} (clean {s['clean_gt_fid']['mean']:.4f} / "
           f"{s['clean_gt_r1']['mean']:.3f}): a blind model that learnt the noise exactly would lose "
           f"{-s['r1_noisy_minus_clean']['mean']:.3f} R@1 and {noise_fid:.4f} FID. The arms' own FID "
           f"({blind} {blind_fid:.4f}, ropar {ropar_fid:.4f}) is {blind_fid / max(noise_fid, 1e-9):.1f}x / "
           f"{ropar_fid / max(noise_fid, 1e-9):.1f}x that noise effect: {weigh}.")
    if blind_r1 > s["noisy_gt_r1"]["mean"]:
        out += (f" The {blind} arm's R@1 {blind_r1:.3f} is above the noisy ground truth's: it did not learn "
                "the noise as it is.")
    return [out]


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
    lines = ["# The key claim: credibility-aware vs credibility-blind", "",
             f"Noise mode `{block['noise_mode']}`, credible-token ratio {block['credible_ratio']}, "
             f"{block['test_clips']} test clips, {block['unmasking_steps']} unmasking steps, "
             f"{'raw' if block['budget'].get('eval', {}).get('raw') else 'cleaned'} model output, preset "
             f"`{', '.join(block['preset'])}`. Per seed: mean over evaluation repeats; ± = 95 % "
             "Student-t over "
             "seeds.", "",
             "| arm | seeds | FID ↓ | R@1 ↑ | MultiModality |", "|---|---|---|---|---|"]
    for arm in KEY_CLAIM_ARMS:
        a = block["arms"][arm]

        def cell(m, a=a):
            iv = a.get(f"{m}_interval")
            if iv:
                return f"{iv['mean']:.4f} ± {iv['ci95']:.4f}"
            return ", ".join(f"{v:.4f}" for v in a.get(m, [])) or "—"
        row = [str(len(a["seeds"])), cell("fid"), cell("r1"), cell("multimodality")]
        lines.append(f"| {arm} | " + " | ".join(row) + " |")
    lines += ["", "## Paired by seed (ropar − arm)", "",
              "Per shared seed the difference ropar − arm; mean ± 95 % Student-t interval over seeds, the "
              "two-sided paired t-test's p, and the smallest difference it finds with 80 % power. Margins "
              f"that matter: FID {block['margins']['fid']}, R@1 {block['margins']['r1']}.", "",
              "| ropar − | seeds | FID diff | p | FID seen at 80 % | R@1 diff | p | R@1 seen at 80 % "
              "| verdict |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in block["paired"].values():
        f, r = c["fid"], c["r1"]
        lines.append(f"| {c['b']} | {len(c['seeds'])} | {f['mean']:+.4f} ± {f['ci95']:.4f} | {f['p']:.3f} | "
                     f"{f['detectable_at_80']:.4f} | {r['mean']:+.4f} ± {r['ci95']:.4f} | {r['p']:.3f} | "
                     f"{r['detectable_at_80']:.4f} | {c['verdict']} |")
    lines += ["", "## Reading", ""] + [f"- {s}" for s in block["reading"]] + [""]
    write_text(out / "key_claim.md", "\n".join(lines))


def assemble(out: Path, data: dict | None) -> dict:
    """report.json's judge + key_claim blocks and key_claim.md from the run records on disk."""
    records, data = load_records(out, data)
    if not records:
        raise RoparError(f"no finished runs in {out / RECORDS}")
    block = key_claim_block(records, data)
    judge = judge_block(out, block["noise_mode"])
    block["reading"] = reading(block, judge)
    merge_report(out, judge, block)
    write_markdown(out, block)
    return block
