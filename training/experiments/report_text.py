"""Reading the report's numbers: verdicts beyond the confidence intervals, the paper's claims checked,
Fig. 3 and the markdown."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ropar_core.atomic import atomic_path, write_text
from training.evaluation import plausibility, statistics

# ----------------------------------------------------------------------------------------------------
# Reading the results


# A row must reach this R@1 before its verdicts say anything about the method rather than the budget.
R1_FLOOR = 0.40


def compare(a: dict, b: dict, lower_is_better: bool, metric: str | None = None) -> str:
    """'better' / 'worse' / 'tie' for a vs b. Rows over the same training seeds ("seeds": per-seed
    means) are compared paired by seed (statistics.paired_difference: better/worse when p < 0.05;
    'underpowered' when not and a difference of the metric's margin could have gone unseen); other rows
    count a difference only beyond the combined 95 % CIs."""
    pa, pb = _by_seed(a), _by_seed(b)
    if len(set(pa) & set(pb)) >= 2 and ("seed_ids" in a or len(pa) == len(pb)):
        d = statistics.paired_difference(pa, pb)
        if d.p < statistics.ALPHA and d.mean != 0:
            return "better" if (d.mean < 0) == lower_is_better else "worse"
        margin = statistics.MARGINS.get(metric)
        return "underpowered" if margin is not None and d.detectable > margin else "tie"
    diff = a["mean"] - b["mean"]
    margin = float(np.hypot(a["ci95"], b["ci95"]))
    if abs(diff) <= margin:
        return "tie"
    better = diff < 0 if lower_is_better else diff > 0
    return "better" if better else "worse"


def _by_seed(est: dict) -> dict[int, float]:
    """A row's per-seed means keyed by training seed ("seed_ids"; rows without them: by position)."""
    values = est.get("seeds", [])
    return dict(zip(est.get("seed_ids", range(len(values))), values, strict=False))


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
            verdict = compare(gen[a][metric], gen[b][metric], lower, metric)
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
                            "a": "ropar@noisy", "b": other, "verdict": compare(a_val, b_val, True, metric),
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


def key_claim_note(results: dict) -> str:
    """Where the paper's central claim is tested, and what that test found (report.json's key_claim)."""
    kc = results.get("key_claim") or {}
    head = ("The paper's central claim (credibility-aware vs credibility-blind) is tested separately, paired "
            "by training seed, in `key_claim.md` (`python -m training.key_claim`)")
    if "verdict" not in kc or "arms" not in kc:
        return head + "; it has no result yet."
    against = kc.get("verdict_against") or "blind"
    n = len(kc["arms"].get("ropar", {}).get("seeds", []))
    r1 = kc.get("ropar_r1")
    learned = "" if r1 is None else f", ropar R@1 {r1:.3f}"
    return (head + f": verdict *{kc['verdict']}* (ropar vs {against}, ropar on {n} seeds{learned}"
            + ("" if kc.get("complete") else "; not yet all the seeds it needs") + ").")


def interval_note(meta: dict) -> str:
    """What the ± of every number is, from how the report was run."""
    seeds = meta.get("training_seeds", [0])
    output = "raw model output" if meta.get("raw") else "the Generator's cleaned output"
    return (f"Every number: mean ± 95 % Student-t interval over {len(seeds)} training seeds {seeds} "
            f"(per seed the mean of {meta['repeats']} evaluation runs: caption draws, crops, sampling "
            f"seeds) on {meta['num_test']} clean test motions, {output}; so the intervals hold training and "
            "evaluation variance together. Comparisons are paired by seed.")


def write_markdown(results: dict, ratios: dict[float, str], path: Path) -> None:
    gen, rec, real = results["generation"], results["reconstruction"], results.get("real", {})
    meta = results["meta"]
    lines = [f"# RoPAR on our data: the paper's tables, preset `{meta['preset']}`", "",
             key_claim_note(results), ""]
    stages = meta["stage_seconds"]
    lines += [f"Generated by `{meta['command']}` from the run records in `runs/` (one per cache and run, "
              f"trained by `python -m training.key_claim`; the commands are at the end). Compute summed over "
              f"the runs: {meta['compute_seconds'] / 60:.0f} min ({stages['train'] / 60:.0f} min training, "
              f"{stages['eval'] / 60:.0f} min evaluation).", "", meta["budget_note"], ""]
    lines += [interval_note(meta), ""]
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
    physical = plausibility.markdown_rows({"real motions": real, **gen})
    if physical:
        lines += ["", "Physical plausibility of the same motions (training/evaluation/plausibility.py: "
                  "skating = share of frames with a foot joint under 5 cm moving > 2.5 cm per frame, sink = "
                  "lowest foot joint under -3 cm, float = above 5 cm; generated motions "
                  + ("as the model outputs them" if meta.get("raw") else "cleaned as users get them")
                  + "):", ""] + physical
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
    rule = ("Rows share their training seeds, so a difference is tested paired by seed: better/worse when "
            "the paired t-test gives p < 0.05; otherwise a tie when the test had 80 % power for a difference "
            f"of the margin (FID {statistics.MARGINS['fid']}, R@1 {statistics.MARGINS['r1']}), else "
            "underpowered." if len(meta.get("training_seeds", [0])) >= 2 else
            "A difference counts only when it exceeds the combined 95 % CIs (√(ci_a² + ci_b²)); otherwise it "
            "is a tie.")
    lines += ["", "## Do the paper's claims hold here?", "", rule, "", "| claim | metric | verdict |",
              "|---|---|---|"]
    for c in results["claims"]:
        lines.append(f"| {c['claim']} | {c['metric']} | {c['verdict']} |")
    lines += ["", "### Reading", ""] + [f"- {s}" for s in results["reading"]] + [""]
    lines += ["## Commands", "", "```"] + results["commands"] + ["```", ""]
    write_text(path, "\n".join(lines))


def reading(claim_list: list[dict], generation: dict) -> list[str]:
    """Plain sentences on the verdicts, grouped by claim, and whether the rows learned enough
    (R@1 >= R1_FLOOR) for the verdicts to be about the method rather than the budget."""
    out = []
    by_claim: dict[str, list[dict]] = {}
    for c in claim_list:
        by_claim.setdefault(c["claim"], []).append(c)
    r1 = {k: v["r1"]["mean"] for k, v in generation.items() if "r1" in v}
    for claim, items in by_claim.items():
        verdicts = {c["metric"]: c["verdict"] for c in items}
        values = set(verdicts.values())
        rows = {k for c in items for x in (c["a"], c["b"]) for k in r1 if k == x or k.startswith(f"{x}@")}
        unlearned = sorted(k for k in rows if r1[k] < R1_FLOOR)
        if unlearned:
            detail = ", ".join(f"{m}: {v}" for m, v in verdicts.items())
            out.append(f"{claim} — not tested here: R@1 below {R1_FLOOR} in {', '.join(unlearned)} "
                       f"(the intervals alone would say {detail}).")
            continue
        if values == {"better"}:
            word = "holds"
        elif values == {"tie"}:
            word = "is not shown (ties within the CIs)"
        elif "underpowered" in values and not values & {"better", "worse"}:
            word = "is not decided (too few seeds to see a difference of the margin)"
        elif "better" in values and "worse" in values:
            word = "is mixed"
        elif "better" in values:
            word = "holds in part (the rest are ties or undecided)"
        elif values == {"worse"}:
            word = "is contradicted"
        else:
            word = "is contradicted in part (the rest are ties or undecided)"
        if claim.startswith("Table 1: on clean") and values <= {"better", "tie"}:
            word = "holds (competitive = not worse)"
        detail = ", ".join(f"{m}: {v}" for m, v in verdicts.items())
        out.append(f"{claim} — {word} ({detail}).")
    low = sorted(k for k, v in r1.items() if v < R1_FLOOR)
    if low:
        out.append(f"{len(low)} of {len(r1)} generation rows stay below R@1 {R1_FLOOR} (lowest: "
                   f"{min(r1, key=r1.get)} {min(r1.values()):.3f}): those models have not learned enough, so "
                   "the verdicts that involve them describe this budget, not the method.")
    elif r1:
        out.append(f"Every generation row reaches R@1 >= {R1_FLOOR} (lowest {min(r1.values()):.3f}): the "
                   "verdicts compare models that have learned.")
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


