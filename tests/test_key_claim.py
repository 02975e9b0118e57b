"""training.key_claim at the tiny preset on synthetic caches: every arm and seed on record, the report
blocks the issue's check reads, and a rerun that redoes nothing."""

import json

import numpy as np
import pytest
import torch

from tests.helpers.evaluator import train_tiny_evaluator
from tests.helpers.synthetic import make_synthetic_caches
from training.data.cache import Cache
from training.experiments import judge_check, key_claim


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("key_claim")
    caches = make_synthetic_caches(root / "caches", per_label=16, names=["clean", "noisy"])
    train_tiny_evaluator(caches["clean"], root / "ev", 60)
    out = root / "reports"
    judge_check.run(root / "caches", ["noisy"], root / "ev", out / "judge", repeats=2, seed=0)
    argv = ["--caches", str(root / "caches"), "--noisy", "noisy", "--preset", "tiny", "--seeds", "2",
            "--evaluator", str(root / "ev"), "--out", str(out), "--work", str(root / "work")]
    assert key_claim.main(argv) == 0
    return root, out, argv


@pytest.mark.slow
def test_report_json_carries_the_judge_and_key_claim_blocks(experiment):
    _, out, _ = experiment
    report = json.loads((out / "report.json").read_text())
    judge, claim = report["judge"], report["key_claim"]
    n = len(judge["credible_ratio"])
    assert n == 2 and all(len(judge[k]) == n for k in ("clean_gt_fid", "noisy_gt_fid", "clean_gt_r1",
                                                       "noisy_gt_r1"))
    assert claim["test_clips"] == 40 and 0 < claim["credible_ratio"] < 1
    for arm in ("ropar", "blind", "fullbody"):
        block = claim["arms"][arm]
        assert block["seeds"] == [0, 1] and len(block["fid"]) == 2 and len(block["r1"]) == 2
        assert len(block["multimodality"]) == 2 and block["r1_interval"]["n"] == 2
    # The verdict is the one the per-seed numbers on record give, and each metric's call follows its
    # Welch difference of the seed means (ropar - blind) and interval.
    assert (claim["verdict"], claim["per_metric"]) == key_claim.verdict(claim["arms"])
    for metric, lower_is_better in (("fid", True), ("r1", False)):
        call = claim["per_metric"][metric]
        diff = np.mean(claim["arms"]["ropar"][metric]) - np.mean(claim["arms"]["blind"][metric])
        assert call["ropar_minus_blind"] == pytest.approx(diff)
        better = "ropar better" if (diff < 0) == lower_is_better else "blind better"
        assert call["call"] == (better if abs(diff) > call["ci95"] else "tie")
    assert not claim["complete"] and not claim["r1_target_met"]  # 2 seeds, 40 clips, 20 steps
    assert any("Incomplete" in s for s in claim["reading"]) and (out / "key_claim.md").is_file()
    assert set(claim["reconstruction"]) == {"pvae", "pvae_fullbody"}


@pytest.mark.slow
def test_the_blind_arm_differs_in_credibility_only(experiment):
    root, _, _ = experiment
    work = root / "work"
    ropar = json.loads((work / "ropar_s0" / "config.json").read_text())["train"]
    blind = json.loads((work / "blind_s0" / "config.json").read_text())["train"]
    assert ropar["pvae"] == blind["pvae"] and ropar["pvae"].endswith("pvae_s0")  # one shared P-VAE
    assert Cache(blind["data"]).credible[:].all() and not Cache(ropar["data"]).credible[:].all()
    assert {k: v for k, v in ropar["config"].items()} == {k: v for k, v in blind["config"].items()}
    full = json.loads((work / "pvae_fullbody_s0" / "config.json").read_text())
    assert full["pvae"]["part_decomposition"] is False and full["train"]["data"].endswith("-blind")


@pytest.mark.slow
def test_finished_runs_are_never_redone(experiment, monkeypatch, capsys):
    _, out, argv = experiment
    before = {p.name: p.read_text() for p in (out / "key_claim").glob("*.json")}
    assert len(before) == 10  # 2 seeds x (2 P-VAEs + 3 arms)

    def boom(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(key_claim, "train_run", boom)
    assert key_claim.main(argv) == 0
    assert "10 runs finished, 0 to do" in capsys.readouterr().out
    assert {p.name: p.read_text() for p in (out / "key_claim").glob("*.json")} == before


def test_verdict_needs_a_difference_beyond_the_interval():
    arms = {"ropar": {"seeds": [0, 1, 2], "fid": [1.0, 1.1, 0.9], "r1": [0.5, 0.52, 0.48]},
            "blind": {"seeds": [0, 1, 2], "fid": [2.0, 2.1, 1.9], "r1": [0.49, 0.53, 0.5]}}
    word, per = key_claim.verdict(arms)
    assert per["fid"]["call"] == "ropar better" and per["r1"]["call"] == "tie" and word == "ropar better"
    assert key_claim.verdict({"ropar": {"seeds": [0]}, "blind": {"seeds": [0]}})[0].startswith("undecided")


def test_schedule_starts_each_arm_after_its_own_pvae():
    stage1, stage2 = key_claim.plan([0, 1], ("ropar", "blind"))
    assert [j.name for j in stage1] == ["pvae_s0", "pvae_s1"]  # no full-body P-VAE without its arm
    tasks = key_claim.schedule(stage1, stage2, stage1[1:] + stage2)  # pvae_s0's evaluation is on record
    assert [(what, job.name, needs) for what, job, needs in tasks] == [
        ("train", "pvae_s0", None), ("run", "pvae_s1", None),  # P-VAEs first: every arm waits for one
        ("run", "ropar_s0", "pvae_s0"), ("run", "blind_s0", "pvae_s0"),
        ("run", "ropar_s1", "pvae_s1"), ("run", "blind_s1", "pvae_s1")]


@pytest.mark.slow
def test_two_jobs_add_a_seed_to_one_arm(experiment, capsys):
    """Parallel runs: the new seed's P-VAE is trained before its RoPAR starts; other arms untouched."""
    _, out, argv = experiment
    before = {p.name: p.read_text() for p in (out / "key_claim").glob("*.json")}
    argv = [*argv, "--jobs", "2", "--arms", "ropar"]
    argv[argv.index("--seeds") + 1] = "3"
    assert key_claim.main(argv) == 0
    assert "4 runs finished, 2 to do" in capsys.readouterr().out  # counts the chosen arms only
    after = {p.name: p.read_text() for p in (out / "key_claim").glob("*.json")}
    assert set(after) - set(before) == {"pvae_s2.json", "ropar_s2.json"}
    assert all(after[name] == text for name, text in before.items())
    claim = json.loads((out / "report.json").read_text())["key_claim"]
    assert claim["arms"]["ropar"]["seeds"] == [0, 1, 2] and claim["arms"]["blind"]["seeds"] == [0, 1]


def test_runs_measured_differently_never_mix(tmp_path):
    """A record left from another evaluation setting (here: cleaned instead of raw output) of the same
    data is not averaged with the others."""
    data = {"name": "noisy"}
    raw, cleaned = {"raw": True, "steps": 10}, {"steps": 10}

    def rec(run, kind, seed, ev, ropar=True):
        key = {"version": 1, "run": run, "data": data, "evaluator": "e", "pvae": {"steps": 9}, "eval": ev}
        if ropar:
            key["ropar"] = {"steps": 7}
        return {"key": key, "run": run, "kind": kind, "seed": seed}

    (tmp_path / "key_claim").mkdir()
    for r in (rec("ropar_s0", "ropar", 0, raw), rec("blind_s0", "blind", 0, raw),
              rec("ropar_s1", "ropar", 1, raw), rec("fullbody_s1", "fullbody", 1, cleaned),
              rec("pvae_s0", "pvae", 0, raw, ropar=False),
              rec("pvae_s1", "pvae", 1, cleaned, ropar=False)):
        (tmp_path / "key_claim" / f"{r['run']}.json").write_text(json.dumps(r))
    records, got = key_claim.load_records(tmp_path, None)
    assert got == data
    assert sorted(r["run"] for r in records) == ["blind_s0", "pvae_s0", "ropar_s0", "ropar_s1"]


def test_a_new_arm_is_one_table_entry(monkeypatch, tmp_path):
    """An arm on a blind P-VAE of its own: one entry in ARMS and one in PVAES give its jobs, its schedule
    and what it trains on."""
    from training.experiments import arms

    monkeypatch.setitem(arms.PVAES, "pvae_blind", arms.PVAEKind("blind"))
    monkeypatch.setitem(arms.ARMS, "blind_both", arms.Arm("blind", "pvae_blind"))
    stage1, stage2 = key_claim.plan([0], ("ropar", "blind_both"))
    assert [j.name for j in stage1] == ["pvae_s0", "pvae_blind_s0"]
    assert [j.name for j in stage2] == ["ropar_s0", "blind_both_s0"]
    assert [(w, j.name, n) for w, j, n in key_claim.schedule(stage1, stage2, stage1 + stage2)][-1] == (
        "run", "blind_both_s0", "pvae_blind_s0")
    noisy = tmp_path / "noisy"
    exp = key_claim.Experiment(key_claim.PRESETS["tiny"], "tiny", noisy, tmp_path / "clean", tmp_path / "ev",
                               tmp_path / "work", tmp_path / "out", {}, "")
    pvae, arm = exp.spec(stage1[1]), exp.spec(stage2[1])
    assert pvae.data == arm.data == tmp_path / "work" / "caches" / "noisy-blind"
    assert arm.pvae == pvae.out == tmp_path / "work" / "pvae_blind_s0" and pvae.stage == "pvae"
    assert exp.spec(stage2[0]).data == noisy and "ropar" in exp.key(stage2[1])
