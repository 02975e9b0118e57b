"""training.judge_check on synthetic caches: visible noise is called visible, identical data is not."""

import json

import numpy as np
import pytest
import torch

from tests.helpers.evaluator import train_tiny_evaluator
from tests.helpers.synthetic import HashTextEncoder, synthetic_clips, write_cache
from training.evaluation import metrics
from training.experiments import judge_check


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("judge")
    clips = synthetic_clips(per_label=16)
    for name, ratio in (("clean", None), ("noisy_r30", 0.3), ("noisy_r100", 1.0)):
        write_cache(root / name, clips, ratio)
    train_tiny_evaluator(root / "clean", root / "ev", 60, text_encoder=HashTextEncoder())
    results = judge_check.run(root, ["noisy_r30", "noisy_r100"], root / "ev", root / "out", repeats=3, seed=0,
                              text_encoder=HashTextEncoder())
    return root, {r["cache"].rsplit("/", 1)[-1]: r for r in results}


def test_corrupted_ground_truth_is_visible_and_identical_data_is_not(setup):
    _, res = setup
    hurt, same = res["noisy_r30"], res["noisy_r100"]
    assert hurt["credible_ratio"] < 0.6 and same["credible_ratio"] == 1.0
    assert hurt["summary"]["fid_noisy_minus_clean"]["visible"]
    assert min(hurt["noisy_gt_fid_paired"]) > 0.0
    assert same["noisy_gt_fid"] == same["clean_gt_fid"] and same["noisy_gt_r1"] == same["clean_gt_r1"]
    assert max(same["noisy_gt_fid_paired"]) < 1e-6
    assert not any(same["summary"][f"{m}_noisy_minus_clean"]["visible"] for m in ("fid", "r1", "mm_dist"))


def test_collect_gives_aligned_per_repeat_lists(setup):
    _, res = setup
    block = judge_check.collect(list(res.values()))
    n = len(block["credible_ratio"])
    assert n == 6 and block["credible_ratio"] == sorted(block["credible_ratio"])
    assert all(len(block[k]) == n for k in ("clean_gt_fid", "noisy_gt_fid", "clean_gt_r1", "noisy_gt_r1"))
    json.dumps(block)  # report.json material


def test_finished_caches_are_not_judged_again(setup, monkeypatch):
    root, res = setup

    def boom(*a, **k):
        raise AssertionError("judged again")

    monkeypatch.setattr(judge_check, "judge_cache", boom)
    again = judge_check.run(root, ["noisy_r30"], root / "ev", root / "out", repeats=3, seed=0,
                            text_encoder=HashTextEncoder())
    assert again[0]["noisy_gt_r1"] == res["noisy_r30"]["noisy_gt_r1"]


def test_student_t_interval_is_wider_than_the_normal_one_for_few_runs():
    vals = [0.40, 0.45, 0.50]
    t, z = metrics.t_interval(vals), metrics.confidence_interval(vals)
    assert t.mean == pytest.approx(0.45) and t.ci95 > 2 * z.ci95
    assert t.ci95 == pytest.approx(4.303 * np.std(vals, ddof=1) / np.sqrt(3), rel=1e-3)
    d = metrics.welch_difference([1.0, 1.1, 0.9], [0.0, 0.1, -0.1])
    assert d.mean == pytest.approx(1.0) and 0 < d.ci95 < 1.0
