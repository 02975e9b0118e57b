"""training.experiments.report: the tiny preset end to end on synthetic caches (the key claim's experiment per
credible ratio), the blind cache, verdicts."""

import json

import numpy as np
import pytest
import torch

from tests.helpers.synthetic import make_synthetic_caches
from training.data.cache import Cache
from training.experiments import report


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    names = ["clean", "noisy", "noisy_video_r30", "noisy_video_r50", "noisy_video_r70"]
    return make_synthetic_caches(tmp_path_factory.mktemp("report_caches"), per_label=16, names=names)


def test_blind_cache_marks_everything_credible(caches, tmp_path):
    blind = report.blind_cache(caches["noisy"], tmp_path / "noisy-blind")
    src, dst = Cache(caches["noisy"]), Cache(blind)
    assert not src.credible[:].all() and dst.credible[:].all()
    np.testing.assert_array_equal(src.features[:], dst.features[:])
    np.testing.assert_array_equal(src.clean_features[:], dst.clean_features[:])
    assert (blind / "features.npy").is_symlink()  # not copied
    # Stats now include the corrupted frames, so they differ from the credible-only ones.
    assert not np.allclose(src.std, dst.std)
    assert dst.meta["credibility_blind"] and [c["id"] for c in dst.clips] == [c["id"] for c in src.clips]
    assert report.blind_cache(caches["noisy"], tmp_path / "noisy-blind") == blind  # reused


def test_compare_counts_only_differences_beyond_the_cis():
    a, b = {"mean": 1.0, "ci95": 0.1}, {"mean": 1.2, "ci95": 0.1}
    assert report.compare(a, b, lower_is_better=True) == "better"
    assert report.compare(a, b, lower_is_better=False) == "worse"
    assert report.compare(a, {"mean": 1.1, "ci95": 0.1}, True) == "tie"  # 0.1 < sqrt(0.02)
    rows = {"a": {"r1": {"mean": 0.5}}, "b": {"r1": {"mean": 0.45}}, "c@x": {"r1": {"mean": 0.1}}}
    lines = report.reading([{"claim": "X", "metric": "fid", "verdict": "worse", "a": "a", "b": "b"},
                            {"claim": "X", "metric": "r1", "verdict": "tie", "a": "a", "b": "b"},
                            {"claim": "Y", "metric": "fid", "verdict": "better", "a": "a", "b": "b"},
                            {"claim": "Z", "metric": "fid", "verdict": "better", "a": "a", "b": "c"}], rows)
    assert lines[0].startswith("X — is contradicted in part") and lines[1].startswith("Y — holds")
    # a claim about a model that has not learned (R@1 0.1) is not read as a verdict
    assert lines[2] == ("Z — not tested here: R@1 below 0.4 in c@x (the intervals alone would say fid: "
                        "better).")
    assert lines[3].startswith("1 of 3 generation rows stay below R@1 0.4") and "c@x 0.100" in lines[3]
    lines = report.reading([], {"a": {"r1": {"mean": 0.42}}, "b": {"r1": {"mean": 0.5}}})
    assert lines == ["Every generation row reaches R@1 >= 0.4 (lowest 0.420): the verdicts compare models "
                     "that have learned."]


def test_rows_over_the_same_seeds_are_compared_paired():
    """Three seeds: a gap shared by every seed is 'better' even where the seeds' own spread is larger than
    the gap (the combined-CI rule would call it a tie); a swing either way is underpowered."""
    base = [0.40, 0.46, 0.52]
    a = {"mean": 0.463, "ci95": 0.15, "seeds": [v + 0.01 + d for v, d in zip(base, (0, 0.001, -0.001))]}
    b = {"mean": 0.46, "ci95": 0.15, "seeds": base}
    assert report.compare(a, b, lower_is_better=False, metric="r1") == "better"
    assert report.compare(a, b, lower_is_better=True, metric="r1") == "worse"
    swing = {"mean": 0.46, "ci95": 0.2, "seeds": [0.45, 0.52, 0.41]}
    assert report.compare(swing, b, lower_is_better=False, metric="r1") == "underpowered"


@pytest.mark.slow
def test_tiny_report_end_to_end_and_resume(caches, tmp_path, monkeypatch):
    """Every table row from the key claim's experiment on each ratio's cache, two seeds per row, paired
    claims; a second call on the records alone (no trained model: another machine) trains nothing."""
    import shutil

    from tests.helpers.evaluator import train_tiny_evaluator
    from training.experiments import runs

    torch.set_num_threads(1)
    out, work, ev = tmp_path / "out", tmp_path / "work", tmp_path / "ev"
    train_tiny_evaluator(caches["clean"], ev, 60)
    argv = ["--preset", "tiny", "--out", str(out), "--caches", str(caches["clean"].parent),
            "--work", str(work), "--evaluator", str(ev), "--seeds", "2"]
    assert report.main(argv) == 0
    data = json.loads((out / "report.json").read_text())
    gen, rec = data["generation"], data["reconstruction"]
    assert set(gen) == {"ropar@clean", "baseline@clean", "ropar@noisy", "baseline@noisy", "ropar@noisy_r30",
                        "baseline@noisy_r30", "ropar@noisy_r70", "baseline@noisy_r70", "ropar-nopart@noisy",
                        "ropar-nodiffusion@noisy"}
    assert set(rec) == {"ropar@noisy", "ropar-nopart@noisy", "pvae-noshared@noisy"}
    records = out / "runs" / "noisy_video_r50"
    for name, kind in (("ropar@noisy", "ropar"), ("baseline@noisy", "fullbody"),
                       ("ropar-nodiffusion@noisy", "nodiffusion")):
        per_seed = [np.mean(json.loads((records / f"{kind}_s{s}.json").read_text())["metrics"]["r1"])
                    for s in (0, 1)]
        row = gen[name]["r1"]
        assert row["n"] == 2 and row["seed_ids"] == [0, 1] and row["seeds"] == pytest.approx(per_seed)
        assert row["mean"] == pytest.approx(np.mean(per_seed))
    for row in list(gen.values()):
        for metric in ("fid", "r1", "r2", "r3", "mm_dist", "diversity"):
            assert np.isfinite(row[metric]["mean"]) and row[metric]["ci95"] >= 0 and row[metric]["n"] == 2
    for row in rec.values():
        assert row["mpjpe_mm"]["mean"] > 0 and np.isfinite(row["fid"]["mean"])
    assert data["real"]["fid"]["mean"] > 0  # real test vs real val motions: a distance, not a floor
    assert data["meta"]["training_seeds"] == [0, 1] and data["meta"]["raw"] is True
    assert data["meta"]["missing"] == [] and data["meta"]["compute_seconds"] > 0
    table1 = [c for c in data["claims"] if c["claim"].startswith("Table 1: on noisy")]
    assert [(c["a"], c["b"], c["metric"]) for c in table1] == [("ropar@noisy", "baseline@noisy", "fid"),
                                                               ("ropar@noisy", "baseline@noisy", "r1")]
    # every generation claim is the paired comparison of its two rows, as they stand in report.json
    generation = [c for c in data["claims"] if c["a"] in gen and c["b"] in gen and "P-VAE" not in c["claim"]]
    assert len(generation) == 8 and len(data["claims"]) >= 12
    for c in generation:
        expected = report.compare(gen[c["a"]][c["metric"]], gen[c["b"]][c["metric"]], c["metric"] == "fid",
                                  c["metric"])
        assert c["verdict"] == expected, c
    assert all(f"--noisy {c}" in " ".join(data["commands"])
               for c in ("noisy_video_r30", "noisy_video_r50", "noisy_video_r70", "clean"))
    md = (out / "report.md").read_text()
    for heading in ("Table 1", "Table 2", "Fig. 3", "Do the paper's claims hold here?", "## Commands"):
        assert heading in md
    assert "Student-t interval over 2 training seeds" in md and "raw model output" in md
    assert (out / "fig3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert data["key_claim"]["arms"]["ropar"]["seeds"] == [0, 1]  # the key claim read the same records
    # Table 2's models: without parts the P-VAE reads the blind view; RoPAR on it still masks noisy tokens.
    nopart = work / "noisy_video_r50"
    pvae_cfg = json.loads((nopart / "pvae_fullbody_s0" / "config.json").read_text())
    assert pvae_cfg["pvae"]["part_decomposition"] is False and "blind" in json.dumps(pvae_cfg["train"])
    assert "blind" not in json.loads((nopart / "nopart_s0" / "config.json").read_text())["train"]["data"]
    nodiff = json.loads((nopart / "nodiffusion_s0" / "config.json").read_text())
    assert nodiff["ropar"]["diffusion_head"] is False

    shutil.rmtree(work)

    def boom(*a, **k):
        raise AssertionError("a run on record was trained again")

    monkeypatch.setattr(runs, "train_run", boom)
    from training.experiments import key_claim
    monkeypatch.setattr(key_claim, "train_run", boom)
    (out / "report.md").unlink()
    assert report.main(argv) == 0
    again = json.loads((out / "report.json").read_text())
    assert again["generation"] == gen and again["claims"] == data["claims"] and (out / "report.md").is_file()


def test_report_prints_paths_inside_the_repository_relative():
    from training.experiments.runs import REPO, shown

    assert shown(REPO / "data" / "cache" / "noisy") == "data/cache/noisy"
    assert shown("/work/elsewhere/cache") == ".../elsewhere/cache"  # outside: no machine path, a label


def test_missing_caches_are_a_clear_error(tmp_path, capsys):
    assert report.main(["--preset", "tiny", "--out", str(tmp_path / "o"), "--caches", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing cache" in err[0]


def test_signal_check_counts_models_above_chance():
    est = lambda m, c: {"mean": m, "ci95": c, "n": 2}  # noqa: E731
    results = {"generation": {"a": {"r1": est(0.30, 0.05), "fid": est(1.0, 0.1)},
                              "b": {"r1": est(0.04, 0.05), "fid": est(2.0, 0.1)}},
               "real": {"r1": est(0.7, 0.01), "fid": est(0.01, 0.0)}}
    lines = report.signal_check(results)
    assert lines[0].startswith("1 of 2 trained models have R@1 above chance") and "best is a" in lines[0]
    assert "1.000–2.000" in lines[1]


def test_a_view_built_from_an_older_cache_at_the_same_path_is_built_again(tmp_path):
    from tests.helpers.synthetic import synthetic_clips, write_cache
    from training.experiments.discard import discard_cache

    src = write_cache(tmp_path / "noisy", synthetic_clips(8, 0), 0.7, 0)
    blind = report.blind_cache(src, tmp_path / "noisy-blind")
    kept = discard_cache(src, tmp_path / "noisy-discard")
    first = {p: (p / "meta.json").stat().st_mtime_ns for p in (blind, kept)}
    assert report.blind_cache(src, blind) == blind and discard_cache(src, kept) == kept
    assert {p: (p / "meta.json").stat().st_mtime_ns for p in (blind, kept)} == first  # reused
    write_cache(tmp_path / "noisy", synthetic_clips(8, 1), 0.7, 1)  # new data at the same path
    report.blind_cache(src, blind)
    discard_cache(src, kept)
    assert all((p / "meta.json").stat().st_mtime_ns != first[p] for p in (blind, kept))
    assert np.array_equal(Cache(blind).features[:], Cache(src).features[:])
