"""training.experiments.runs: a RunSpec's TrainConfig, the command line it records, and the budgets the
committed run records were measured with."""

import json
from pathlib import Path

import pytest

from ropar_core.errors import RoparError
from training.experiments import key_claim, report_runs
from training.experiments.runs import Budget, RunSpec, is_trained
from training.train import train_evaluator, train_pvae, train_ropar
from training.train.config import train_config

REPO = Path(__file__).resolve().parents[1]
TRAINERS = {"pvae": train_pvae, "ropar": train_ropar, "evaluator": train_evaluator}


def _specs():
    kc, rep = key_claim.PRESETS["shipped"], report_runs.PRESETS["small"]
    return [RunSpec("pvae", Path("d"), Path("o"), kc.pvae, 2, model={"part_decomposition": False}, threads=1),
            RunSpec("ropar", Path("d"), Path("o"), kc.ropar, 1, pvae=Path("p"), device="cuda"),
            RunSpec("pvae", Path("d"), Path("o"), rep.pvae, 1, model={"shared_parameters": False}, threads=2),
            RunSpec("ropar", Path("d"), Path("o"), rep.ropar, 2, model={"diffusion_head": False},
                    pvae=Path("p"), init=Path("i")),
            RunSpec("evaluator", Path("d"), Path("o"), rep.evaluator, 1234, threads=2)]


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
    """A rerun of `key_claim --preset shipped` finds its committed records instead of redoing them."""
    budget = key_claim.PRESETS["shipped"].record()
    for path in sorted((REPO / "reports" / "key_claim").glob("*.json")):
        key = json.loads(path.read_text())["key"]
        assert key["pvae"] == budget["pvae"] and key["eval"] == budget["eval"], path.name
        if "ropar" in key:
            assert key["ropar"] == budget["ropar"], path.name


def test_the_committed_report_records_its_budget():
    meta = json.loads((REPO / "reports" / "report.json").read_text())["meta"]
    assert meta["budget"] == report_runs.PRESETS[meta["preset"]].record()


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


def test_the_paper_preset_is_the_key_claim_budget_over_three_seeds(tmp_path):
    paper, kc = report_runs.PRESETS["paper"], key_claim.PRESETS["shipped"]
    assert paper.pvae == kc.pvae and paper.pvae.steps >= 1500 and paper.ropar == kc.ropar
    assert paper.ropar.steps >= 1400 and paper.seeds == (0, 1, 2)
    assert paper.eval.raw and paper.eval.limit is None and paper.eval.steps == kc.eval.steps
    assert paper.record()["seeds"] == [0, 1, 2] and paper.record()["eval"]["raw"] is True
    # every seed of a row trains its own P-VAE and RoPAR, seeded apart, in a directory of its own
    run = report_runs.Run("ropar@noisy", "noisy")
    caches = {"noisy": tmp_path / "noisy"}
    specs = [report_runs.run_specs(run, caches, tmp_path, paper, seed) for seed in paper.seeds]
    assert len({s["ropar"].out for s in specs}) == 3 and len({s["pvae"].seed for s in specs}) == 3
    assert all(s["ropar"].pvae == s["pvae"].out for s in specs)
    assert specs[1]["ropar"].out == tmp_path / "ropar_at_noisy" / "s1" / "ropar"
    # a one-seed preset keeps its layout: the run's directory itself
    small = report_runs.run_specs(run, caches, tmp_path, report_runs.PRESETS["small"])
    assert small["ropar"].out == tmp_path / "ropar_at_noisy" / "ropar"


def test_a_row_over_seeds_is_a_t_interval_of_the_seed_means():
    from scipy import stats

    from training.experiments.report import over_seeds

    per_seed = [{"r1": {"mean": m, "ci95": 0.01, "n": 2}} for m in (0.44, 0.47, 0.50)]
    row = over_seeds(per_seed)["r1"]
    assert row["seeds"] == [0.44, 0.47, 0.50] and row["n"] == 3 and row["mean"] == pytest.approx(0.47)
    assert row["ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * 0.03 / 3 ** 0.5)
    assert over_seeds(per_seed[:1]) == per_seed[0]  # one seed: its own interval over repeats


def test_the_committed_reports_are_what_their_json_gives(tmp_path):
    """key_claim.md and report.md are rebuilt from the committed records alone, with the same text."""
    import shutil

    from training.experiments import report

    out = tmp_path / "reports"
    for name in ("key_claim", "judge"):
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
