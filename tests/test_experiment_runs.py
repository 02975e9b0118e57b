"""training.experiments.runs: a RunSpec's TrainConfig, the command line it records, and the budgets the
committed run records were measured with."""

import json
from pathlib import Path

import pytest

from ropar_core.errors import RoparError
from training.experiments import key_claim
from training.experiments.runs import Budget, RunSpec, is_trained
from training.train import train_evaluator, train_pvae, train_ropar
from training.train.config import train_config

REPO = Path(__file__).resolve().parents[1]
TRAINERS = {"pvae": train_pvae, "ropar": train_ropar, "evaluator": train_evaluator}


def _specs():
    kc, small = key_claim.PRESETS["shipped"], key_claim.PRESETS["small"]
    return [RunSpec("pvae", Path("d"), Path("o"), kc.pvae, 2, model={"part_decomposition": False}, threads=1),
            RunSpec("ropar", Path("d"), Path("o"), kc.ropar, 1, pvae=Path("p"), device="cuda"),
            RunSpec("pvae", Path("d"), Path("o"), small.pvae, 1, model={"shared_parameters": False},
                    threads=2),
            RunSpec("ropar", Path("d"), Path("o"), small.ropar, 2, model={"diffusion_head": False},
                    pvae=Path("p"), init=Path("i")),
            RunSpec("evaluator", Path("d"), Path("o"), Budget("small", 400), 1234, threads=2)]


@pytest.mark.parametrize("spec", _specs(), ids=lambda s: f"{s.stage}-{s.budget.preset}-{s.budget.steps}")
def test_the_recorded_command_trains_the_same_config(spec):
    """Parsing the command a report records, with the trainer's own parser, gives back the very
    TrainConfig and model switches the experiment trained with."""
    trainer = TRAINERS[spec.stage]
    argv = spec.command().split()[3:]  # after "python -m training.train_<stage>"
    args = trainer.build_parser().parse_args(argv)
    assert train_config(trainer.train_defaults(args.preset), {}, vars(args)) == spec.train_config()
    assert args.preset == spec.budget.preset and args.resume
    if spec.stage == "pvae":
        assert args.no_part_decomposition == (spec.model.get("part_decomposition") is False)
        assert args.no_shared_parameters == (spec.model.get("shared_parameters") is False)
    if spec.stage == "ropar":
        assert args.pvae == "p" and args.no_diffusion_head == (spec.model.get("diffusion_head") is False)
        assert args.init == (None if spec.init is None else str(spec.init))


def test_budgets_set_warmup_checkpoints_and_ema():
    cfg = RunSpec("ropar", Path("d"), Path("o"), key_claim.PRESETS["shipped"].ropar, 3, pvae=Path("p"),
                  threads=1).train_config()
    assert (cfg.steps, cfg.batch_size, cfg.lr, cfg.crop_frames, cfg.ema_decay) == (1400, 32, 1e-3, 128, 0.998)
    assert (cfg.warmup, cfg.ckpt_every, cfg.log_every, cfg.eval_every) == (1400 // 15, 350, 280, 0)
    assert (cfg.seed, cfg.threads, cfg.device, cfg.weight_decay) == (3, 1, "cpu", 1e-5)  # RoPAR's own decay
    ev = RunSpec("evaluator", Path("d"), Path("o"), Budget("small", 400), 1234).train_config()
    assert (ev.steps, ev.warmup, ev.ema_decay, ev.betas, ev.ckpt_every) == (400, 100, 0.0, (0.9, 0.999), 400)


def test_the_committed_key_claim_records_match_the_shipped_budget():
    """A rerun of `key_claim --preset shipped` (or of the report, which runs the same experiment) finds
    its committed records instead of redoing them: each lies in its cache's folder, named by its run."""
    budget = key_claim.PRESETS["shipped"].record()
    paths = sorted((REPO / "reports" / "runs").glob("*/*.json"))
    assert len(paths) >= 21
    for path in paths:
        record = json.loads(path.read_text())
        key = record["key"]
        assert path.parent.name == key["data"]["name"] and path.stem == key["run"] == record["run"], path
        assert key["pvae"] == budget["pvae"] and key["eval"] == budget["eval"], path.name
        if "ropar" in key:
            assert key["ropar"] == budget["ropar"], path.name


def test_the_committed_report_records_its_budget():
    meta = json.loads((REPO / "reports" / "report.json").read_text())["meta"]
    assert meta["budget"] == key_claim.PRESETS[meta["preset"]].record()
    assert meta["preset"] == "shipped" and meta["raw"] and meta["num_test"] >= 288


def test_bad_specs_are_clear_errors(tmp_path):
    with pytest.raises(RoparError, match="unknown stage"):
        RunSpec("vae", tmp_path, tmp_path, Budget("tiny", 1), 0)
    with pytest.raises(RoparError, match="P-VAE"):
        RunSpec("ropar", tmp_path, tmp_path, Budget("tiny", 1), 0)
    with pytest.raises(RoparError, match="from scratch"):
        RunSpec("evaluator", tmp_path, tmp_path, Budget("tiny", 1), 0, init=tmp_path)
    spec = RunSpec("pvae", tmp_path, tmp_path / "m", Budget("tiny", 5), 0)
    assert not is_trained(spec)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps({"pvae": {}, "train": {"steps": 4}}))
    assert not is_trained(spec)  # trained for another budget
    (tmp_path / "m" / "config.json").write_text(json.dumps({"pvae": {}, "train": {"steps": 5}}))
    assert is_trained(spec)


def test_the_tables_are_the_key_claims_experiment_on_each_ratio(tmp_path):
    """Every ratio trains RoPAR and the full-body baseline; the main ratio adds Table 2's ablations and the
    P-VAE without shared parameters (measured for reconstruction alone), on the key claim's cache, so the
    key claim's runs there are rows of the tables too."""
    from training.experiments import tables

    shipped = key_claim.PRESETS["shipped"]
    assert shipped.pvae.steps >= 1500 and shipped.ropar.steps >= 1400 and shipped.eval.raw
    assert tables.RATIOS[tables.MAIN_RATIO][0] == "noisy_video_r50"  # the key claim's cache
    stage1, stage2 = key_claim.plan([0, 1, 2], tables.kinds(0.3))
    assert [j.name for j in stage1 if j.seed == 0] == ["pvae_s0", "pvae_fullbody_s0"]
    assert [j.name for j in stage2 if j.seed == 0] == ["ropar_s0", "fullbody_s0"]
    stage1, stage2 = key_claim.plan([0, 1, 2], tables.kinds(0.5))
    assert {j.kind for j in stage1} == {"pvae", "pvae_fullbody", "pvae_noshared"}
    assert {j.kind for j in stage2} == {"ropar", "fullbody", "nopart", "nodiffusion"} and len(stage2) == 12
    exp = key_claim.Experiment(shipped, "shipped", tmp_path / "noisy", tmp_path / "clean", tmp_path / "ev",
                               tmp_path / "work", tmp_path / "out", {"name": "n"}, "")
    nopart, nodiff = exp.spec(key_claim.Job("nopart", 1)), exp.spec(key_claim.Job("nodiffusion", 1))
    assert nopart.pvae == tmp_path / "work" / "pvae_fullbody_s1" and nopart.data == tmp_path / "noisy"
    assert nodiff.model == {"diffusion_head": False} and nodiff.pvae == tmp_path / "work" / "pvae_s1"
    noshared = exp.spec(key_claim.Job("pvae_noshared", 1))
    assert noshared.model == {"shared_parameters": False} and noshared.data == tmp_path / "noisy"
    assert tables.generation_rows(0.3) == {"ropar@noisy_r30": "ropar", "baseline@noisy_r30": "fullbody"}
    assert tables.reconstruction_rows(0.5)["pvae-noshared@noisy"] == "pvae_noshared"


def test_a_row_over_seeds_is_a_t_interval_of_the_seed_means():
    from scipy import stats

    from training.experiments.tables import row

    means = ((2, 0.50), (0, 0.44), (1, 0.47))
    recs = [{"seed": s, "metrics": {"r1": [m - 0.01, m + 0.01]}} for s, m in means]
    r1 = row(recs, [0, 1, 2])["r1"]
    assert r1["seeds"] == pytest.approx([0.44, 0.47, 0.50]) and r1["seed_ids"] == [0, 1, 2]
    assert r1["n"] == 3 and r1["mean"] == pytest.approx(0.47)
    assert r1["ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * 0.03 / 3 ** 0.5)
    assert row(recs, [0]) is None and row(recs, [0, 2])["r1"]["seed_ids"] == [0, 2]


def test_the_committed_reports_are_what_their_json_gives(tmp_path):
    """key_claim.md and report.md are rebuilt from the committed records alone, with the same text."""
    import shutil

    from training.experiments import report

    out = tmp_path / "reports"
    for name in ("runs", "judge"):
        shutil.copytree(REPO / "reports" / name, out / name)
    shutil.copy(REPO / "reports" / "report.json", out / "report.json")
    assert key_claim.main(["--report-only", "--out", str(out)]) == 0
    assert report.main(["--text-only", "--out", str(out)]) == 0
    for name in ("key_claim.md", "report.md"):
        assert (out / name).read_text() == (REPO / "reports" / name).read_text(), name
    claim = json.loads((out / "report.json").read_text())["key_claim"]
    assert set(claim["arms"]) == {"ropar", "blind", "blind_both", "discard", "fullbody"}
    paired = claim["paired"]  # every arm with >= 2 seeds shared with ropar, as the records stand
    assert {"ropar-blind", "ropar-fullbody"} <= set(paired) <= {f"ropar-{a}" for a in claim["arms"]}
    assert all(set(v[m]) >= {"mean", "ci95", "p"} for v in paired.values() for m in ("fid", "r1"))
