"""training.key_claim at the tiny preset on synthetic caches: the arms and seeds on record, the report
blocks (arms, paired differences, verdict) the experiment's readers check, a rerun that redoes nothing,
a run order that makes every stop useful, and verdicts on data whose answer is known."""

import json

import numpy as np
import pytest
import torch

from tests.helpers.evaluator import train_tiny_evaluator
from tests.helpers.synthetic import make_synthetic_caches, synthetic_clips, write_cache
from training.data.cache import Cache
from training.experiments import judge_check, key_claim


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("key_claim")
    caches = make_synthetic_caches(root / "caches", per_label=16, names=["clean"])
    # credible ratio 0.7: enough fully credible stretches for the discard arm's batches (21 train clips)
    caches["noisy"] = write_cache(root / "caches" / "noisy", synthetic_clips(16, 0), 0.7, 0)
    train_tiny_evaluator(caches["clean"], root / "ev", 60)
    out = root / "reports"
    judge_check.run(root / "caches", ["noisy"], root / "ev", out / "judge", repeats=2, seed=0)
    # the arms with a P-VAE of their own (blind and fullbody differ only in their specs, tested below)
    argv = ["--caches", str(root / "caches"), "--noisy", "noisy", "--preset", "tiny", "--seeds", "2",
            "--other-seeds", "2", "--arms", "ropar,blind_both,discard",
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
    assert set(claim["arms"]) == {"ropar", "blind", "blind_both", "discard", "fullbody"}
    for arm in ("ropar", "blind_both", "discard"):
        block = claim["arms"][arm]
        assert block["seeds"] == [0, 1] and len(block["fid"]) == 2 and len(block["r1"]) == 2
        assert len(block["multimodality"]) == 2 and block["r1_interval"]["n"] == 2
    assert claim["arms"]["blind"]["seeds"] == []
    assert set(claim["paired"]) == {"ropar-blind_both", "ropar-discard"}
    # The paired differences are those of the per-seed numbers on record, and the verdict is ropar
    # against blind_both, the paper's blind baseline.
    for name, pair in claim["paired"].items():
        other = claim["arms"][name.split("-", 1)[1]]
        for metric in ("fid", "r1"):
            diffs = np.subtract(claim["arms"]["ropar"][metric], other[metric])
            assert pair[metric]["mean"] == pytest.approx(diffs.mean())
            assert pair[metric]["sd"] == pytest.approx(diffs.std(ddof=1))
            assert 0 <= pair[metric]["p"] <= 1 and pair[metric]["ci95"] >= 0
    assert claim["verdict_against"] == "blind_both"
    assert claim["verdict"] == claim["paired"]["ropar-blind_both"]["verdict"]
    assert (claim["verdict"], claim["per_metric"]) == key_claim.verdict(claim["arms"])
    assert not claim["complete"] and not claim["r1_target_met"]  # 2 seeds, 40 clips, 20 steps
    assert claim["seeds_missing"] == {"ropar": 6, "blind": 3, "blind_both": 6, "discard": 1, "fullbody": 3}
    assert any("Incomplete" in s for s in claim["reading"]) and (out / "key_claim.md").is_file()
    assert set(claim["reconstruction"]) == {"pvae", "pvae_blind", "pvae_discard", "pvae_fullbody"}
    assert "| blind_both | 2 |" in (out / "key_claim.md").read_text()


@pytest.mark.slow
def test_blind_both_trusts_every_token_and_discard_keeps_only_credible_frames(experiment):
    root, _, _ = experiment
    work = root / "work" / "noisy"  # the models of one cache: work/<the cache's name>

    def train(run):
        return json.loads((work / run / "config.json").read_text())["train"]

    ropar, both, discard = train("ropar_s0"), train("blind_both_s0"), train("discard_s0")
    assert ropar["pvae"].endswith("pvae_s0") and both["pvae"].endswith("pvae_blind_s0")
    assert discard["pvae"].endswith("pvae_discard_s0")
    # blind_both: both of its stages read the blind view; ropar's read the noisy cache with its credibility
    assert train("pvae_blind_s0")["data"] == both["data"] and both["data"].endswith("-blind")
    assert Cache(both["data"]).credible[:].all() and not Cache(ropar["data"]).credible[:].all()
    assert ropar["config"] == both["config"]
    # discard: only fully credible stretches of the noisy cache, each inside its source clip
    noisy, kept = Cache(ropar["data"]), Cache(discard["data"])
    assert train("pvae_discard_s0")["data"] == discard["data"] and kept.credible[:].all()
    assert 0 < len(kept.features) < len(noisy.features)
    ids = {c["id"]: i for i, c in enumerate(noisy.clips)}
    for j, clip in enumerate(kept.clips[:5]):
        i, start = ids[clip["discard_from"]], int(clip["id"].rsplit("#", 1)[1])
        assert np.array_equal(kept.clip_features(j), noisy.clip_features(i)[start:start + clip["length"]])
        assert noisy.clip_credible(i)[start:start + clip["length"]].all()


@pytest.mark.slow
def test_finished_runs_are_never_redone(experiment, monkeypatch, capsys):
    _, out, argv = experiment
    before = {p.name: p.read_text() for p in (out / "runs" / "noisy").glob("*.json")}
    assert len(before) == 12  # 2 seeds x (3 P-VAEs + 3 arms)

    def boom(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(key_claim, "train_run", boom)
    assert key_claim.main(argv) == 0
    assert "12 runs finished, 0 to do" in capsys.readouterr().out
    assert {p.name: p.read_text() for p in (out / "runs" / "noisy").glob("*.json")} == before


def _arms(ropar_fid, other_fid, ropar_r1, other_r1, other="blind_both"):
    seeds = list(range(len(ropar_fid)))
    return {"ropar": {"seeds": seeds, "fid": list(ropar_fid), "r1": list(ropar_r1)},
            other: {"seeds": seeds, "fid": list(other_fid), "r1": list(other_r1)}}


def test_verdicts_on_data_whose_answer_is_known():
    rng = np.random.default_rng(0)
    fid, r1 = 0.07 + rng.normal(0, 0.01, 8), 0.45 + rng.normal(0, 0.02, 8)  # the seeds' own spread
    small = rng.normal(0, 0.002, 8)  # per-seed differences far smaller than that spread
    # a clear win: ropar 0.02 lower FID and 0.03 higher R@1 in every seed
    assert key_claim.verdict(_arms(fid - 0.02 + small, fid, r1 + 0.03 + small, r1))[0] == "ropar better"
    # a clear loss: the same, the other way round
    assert key_claim.verdict(_arms(fid + 0.02 + small, fid, r1 - 0.03 + small, r1))[0] == "blind_both better"
    # a tie with power: differences within +-0.005 over 8 seeds; the test would have found the margins
    word, per = key_claim.verdict(_arms(fid + small / 2, fid, r1 + small, r1))
    assert word == "tie" and all(per[m]["detectable_at_80"] < per[m]["margin"] for m in ("fid", "r1"))
    # an underpowered tie: 3 seeds whose differences swing by 0.05 either way
    swing = np.array([0.05, -0.04, 0.0])
    word, per = key_claim.verdict(_arms(0.07 + swing, [0.07] * 3, 0.45 - swing, [0.45] * 3))
    assert word == "undecided" and per["fid"]["call"] == per["r1"]["call"] == "underpowered"
    # the seeds are paired: a seed effect shared by both arms (0.03 of FID) cancels, unlike in a Welch test
    shift = np.array([0.0, 0.03, -0.03])
    paired = _arms(0.06 + shift + [0, 0, 0.001], 0.07 + shift, 0.46 + shift, 0.45 + shift)
    assert key_claim.verdict(paired)[1]["fid"]["call"] == "ropar better"
    # without blind_both the verdict is about blind (Eq. 2 alone)
    fallback = key_claim.verdict(_arms([0.05, 0.06], [0.08, 0.09], [0.5, 0.5], [0.4, 0.41], "blind"))
    assert fallback[1]["against"] == "blind"
    assert key_claim.verdict({"ropar": {"seeds": [0]}, "blind": {"seeds": [0]}})[0].startswith("undecided")


def test_the_reading_says_what_the_numbers_say():
    from training.experiments import key_claim_report as kr

    arms = {a: {"seeds": []} for a in key_claim.ARMS}
    arms.update(_arms([0.05, 0.06, 0.055], [0.03, 0.035, 0.031], [0.46, 0.47, 0.45], [0.46, 0.47, 0.45],
                      "fullbody"))
    arms.update(_arms([0.05, 0.06, 0.055], [0.06, 0.071, 0.064], [0.46, 0.47, 0.45], [0.44, 0.46, 0.44]))
    block = {"arms": arms, "paired": kr.paired_block(arms), "margins": dict(kr.statistics.MARGINS),
             "ropar_r1": 0.46, "r1_target_met": True, "complete": True, "preset": ["x"]}
    block["verdict"], per = key_claim.verdict(arms)
    block["verdict_against"] = per["against"]
    text = " ".join(kr.reading(block, None))
    assert "beats ropar on FID" in text and "reversed" in text  # fullbody's FID win, said plainly
    assert f"Verdict, ropar vs blind_both: {block['verdict']}" in text
    assert "R@1 0.460 >= 0.45" in text and "discard" not in text  # no discard seeds: nothing said
    # discard far ahead of ropar on every seed: said as the claim contradicted; behind: as it holds
    arms.update(_arms([0.05, 0.06, 0.055], [0.015, 0.02, 0.018], [0.46, 0.47, 0.45], [0.6, 0.59, 0.58],
                      "discard"))
    block["paired"] = kr.paired_block(arms)
    text = " ".join(kr.reading(block, None))
    assert "(discard) beats masking them (ropar) on FID and R@1" in text and "against the paper" in text
    arms.update(_arms([0.05, 0.06, 0.055], [0.07, 0.081, 0.074], [0.46, 0.47, 0.45], [0.40, 0.42, 0.39],
                      "discard"))
    block["paired"] = kr.paired_block(arms)
    text = " ".join(kr.reading(block, None))
    assert "ropar beats leaving the noisy stretches out (discard) on FID and R@1" in text
    block["paired"]["ropar-fullbody"]["fid"]["call"] = "tie"
    block["ropar_r1"], block["r1_target_met"] = 0.3, False
    lines = kr.reading(block, None)
    assert "reversed" not in " ".join(lines) and "have not learned enough" in " ".join(lines)
    assert "describes the budget, not the method" in next(x for x in lines if x.startswith("Verdict"))


def test_schedule_interleaves_the_primary_pair_then_the_other_arms():
    stage1, stage2 = key_claim.plan([0, 1, 2, 3], ("ropar", "blind_both", "discard"), [0, 1, 2])
    assert [j.name for j in stage2 if j.kind == "discard"] == ["discard_s0", "discard_s1", "discard_s2"]
    done = {"pvae_s0", "ropar_s0"}
    todo = [j for j in stage1 + stage2 if j.name not in done]
    tasks = [(what, job.name, needs) for what, job, needs in key_claim.schedule(stage1, stage2, todo)]
    assert tasks[:4] == [("run", "pvae_blind_s0", None), ("run", "blind_both_s0", "pvae_blind_s0"),
                         ("run", "pvae_s1", None), ("run", "ropar_s1", "pvae_s1")]
    arms = [name for _, name, needs in tasks if needs]
    assert arms == ["blind_both_s0", "ropar_s1", "blind_both_s1", "ropar_s2", "blind_both_s2",
                    "discard_s0", "discard_s1", "discard_s2", "ropar_s3", "blind_both_s3"]
    # a P-VAE whose evaluation is on record but whose model an arm still needs is trained, not rerun
    tasks = key_claim.schedule(stage1, stage2, [j for j in stage1 + stage2 if j.name != "pvae_s0"])
    assert (tasks[0][0], tasks[0][1].name) == ("train", "pvae_s0")


@pytest.mark.slow
def test_two_jobs_add_a_seed_to_one_arm(experiment, capsys):
    """Parallel runs: the new seed's P-VAE is trained before its RoPAR starts; other arms untouched."""
    _, out, argv = experiment
    before = {p.name: p.read_text() for p in (out / "runs" / "noisy").glob("*.json")}
    argv = [*argv, "--jobs", "2", "--arms", "ropar"]
    argv[argv.index("--seeds") + 1] = "3"
    assert key_claim.main(argv) == 0
    assert "4 runs finished, 2 to do" in capsys.readouterr().out  # counts the chosen arms only
    after = {p.name: p.read_text() for p in (out / "runs" / "noisy").glob("*.json")}
    assert set(after) - set(before) == {"pvae_s2.json", "ropar_s2.json"}
    assert all(after[name] == text for name, text in before.items())
    claim = json.loads((out / "report.json").read_text())["key_claim"]
    assert claim["arms"]["ropar"]["seeds"] == [0, 1, 2] and claim["arms"]["blind_both"]["seeds"] == [0, 1]


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

    (tmp_path / "runs" / "noisy").mkdir(parents=True)
    for r in (rec("ropar_s0", "ropar", 0, raw), rec("blind_s0", "blind", 0, raw),
              rec("ropar_s1", "ropar", 1, raw), rec("fullbody_s1", "fullbody", 1, cleaned),
              rec("pvae_s0", "pvae", 0, raw, ropar=False),
              rec("pvae_s1", "pvae", 1, cleaned, ropar=False)):
        (tmp_path / "runs" / "noisy" / f"{r['run']}.json").write_text(json.dumps(r))
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


def test_blind_and_fullbody_differ_from_ropar_in_their_tables_only(tmp_path):
    noisy = tmp_path / "noisy"
    exp = key_claim.Experiment(key_claim.PRESETS["tiny"], "tiny", noisy, tmp_path / "clean", tmp_path / "ev",
                               tmp_path / "work", tmp_path / "out", {}, "")
    ropar, blind = exp.spec(key_claim.Job("ropar", 1)), exp.spec(key_claim.Job("blind", 1))
    assert blind.pvae == ropar.pvae == tmp_path / "work" / "pvae_s1"  # Eq. 2 off, the same P-VAE
    assert blind.data == tmp_path / "work" / "caches" / "noisy-blind" and ropar.data == noisy
    assert blind.budget == ropar.budget and blind.model == ropar.model == {}
    full = exp.spec(key_claim.Job("pvae_fullbody", 1))
    assert full.model == {"part_decomposition": False} and full.data == blind.data
    assert exp.spec(key_claim.Job("discard", 1)).data == tmp_path / "work" / "caches" / "noisy-discard"
