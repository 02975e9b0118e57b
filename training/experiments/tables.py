"""What the paper's Table 1, Table 2 and Fig. 3 are made of on our data: per credible-token ratio a noisy
cache and the arms trained on it (the key claim's experiment, training/experiments/key_claim.py, on that
cache), and which arm or P-VAE each row of report.json reads. The rows share the key claim's budget,
seeds and judge, so the key claim's own runs at the main ratio are rows here too."""

from __future__ import annotations

import numpy as np

from training.evaluation import metrics

# Credible-token ratio -> (cache folder under --caches, the label report.json's rows use). The caches
# are `python -m training.prepare --video-variants 0.3,0.5,0.7`'s: the video-noise simulator, as for the
# key claim (a full-body camera view loses whole limbs, training/data/video_noise.py).
RATIOS = {0.3: ("noisy_video_r30", "noisy_r30"), 0.5: ("noisy_video_r50", "noisy"),
          0.7: ("noisy_video_r70", "noisy_r70"), 1.0: ("clean", "clean")}
MAIN_RATIO = 0.5  # Table 1's noisy rows and Table 2 are measured on this cache (the key claim's)

# Row method -> arm (arms.ARMS), trained at every ratio: Table 1 and Fig. 3.
METHODS = {"ropar": "ropar", "baseline": "fullbody"}
# Table 2 at the main ratio: generation rows -> arm; reconstruction rows -> P-VAE kind (arms.PVAES).
ABLATIONS = {"ropar-nopart": "nopart", "ropar-nodiffusion": "nodiffusion"}
RECONSTRUCTION = {"ropar": "pvae", "ropar-nopart": "pvae_fullbody", "pvae-noshared": "pvae_noshared"}


def kinds(ratio: float) -> tuple[str, ...]:
    """The arms (and reconstruction-only P-VAEs) the tables need on the cache of one ratio."""
    if ratio != MAIN_RATIO:
        return tuple(METHODS.values())
    return (*METHODS.values(), *ABLATIONS.values(), *RECONSTRUCTION.values())


def generation_rows(ratio: float) -> dict[str, str]:
    """Row name -> arm for one ratio's cache, e.g. "baseline@noisy_r30" -> "fullbody"."""
    label = RATIOS[ratio][1]
    rows = {f"{method}@{label}": arm for method, arm in METHODS.items()}
    if ratio == MAIN_RATIO:
        rows.update({f"{name}@{label}": arm for name, arm in ABLATIONS.items()})
    return rows


def reconstruction_rows(ratio: float) -> dict[str, str]:
    label = RATIOS[ratio][1]
    return {f"{name}@{label}": kind for name, kind in RECONSTRUCTION.items()} if ratio == MAIN_RATIO else {}


def row(records: list[dict], seeds: list[int]) -> dict | None:
    """One row from one kind's run records: per metric the Student-t interval over the seeds' means
    (each seed: the mean of its evaluation repeats), those means in seed order ("seeds") and the seeds
    themselves ("seed_ids", so rows are compared paired by seed). None below two seeds."""
    recs = sorted((r for r in records if r["seed"] in seeds), key=lambda r: r["seed"])
    if len(recs) < 2:
        return None
    out = {}
    for metric in recs[0]["metrics"]:
        if all(metric in r["metrics"] for r in recs):
            values = [float(np.mean(r["metrics"][metric])) for r in recs]
            out[metric] = {**metrics.t_interval(values).to_dict(), "seeds": values,
                           "seed_ids": [r["seed"] for r in recs]}
    return out
