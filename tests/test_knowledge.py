"""What a model knows (ropar_core/knowledge.py): the stored caption summary, the warning for prompts unlike
the training data in the CLI, the server and `ropar info`, and the threshold on held-out paraphrases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ropar_core.cli import main
from ropar_core.errors import ModelError
from ropar_core.knowledge import FILE_NAME, TOP_K, Knowledge, action_phrase, farthest_points, warning_for
from tests.helpers.server import Running
from tests.helpers.tiny_model import make_tiny_model_dir, text_encoder, tiny_generator
from training.train.build_knowledge import calibrate, held_out, margins, with_unknown

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "assets" / "default"
OPEN_MODEL = ROOT / "assets" / "open"
KNOWN = {"walk": ["a person walks forward", "someone strolls ahead slowly", "an old man walks straight on"],
         "wave right hand": ["a person waves with the right hand", "someone waves hello with the right arm"]}


def small_knowledge(threshold: float = 0.5) -> Knowledge:
    enc = text_encoder()
    labels = list(KNOWN)
    emb = [enc.encode([action_phrase(t) for t in KNOWN[k]]).numpy() for k in labels]
    action = np.concatenate([np.full(len(e), i) for i, e in enumerate(emb)])
    return Knowledge(np.concatenate(emb), action, labels, threshold, "all-MiniLM-L6-v2")


def test_action_phrase_drops_only_the_subject():
    assert action_phrase("An old man slowly walks ahead") == "slowly walks ahead"
    assert action_phrase("a person is running") == "running"
    assert action_phrase("someone waves") == "waves"
    assert action_phrase("walk forward") == "walk forward"
    assert action_phrase("  a person  ") == "a person"  # nothing left: the text itself


def test_farthest_points_spread_over_the_directions():
    emb = np.array([[1, 0], [0.99, 0.14], [0, 1], [-1, 0]], dtype=np.float64)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    assert list(farthest_points(emb, 3)) == [0, 2, 3]
    assert list(farthest_points(emb, 9)) == [0, 1, 2, 3]


def test_save_load_round_trip_and_a_corrupt_file(tmp_path):
    k = small_knowledge(0.42)
    k.save(tmp_path)
    back = Knowledge.load(tmp_path)
    assert back.labels == k.labels and back.threshold == 0.42 and back.text_encoder == "all-MiniLM-L6-v2"
    assert np.allclose(back.embeddings.numpy(), k.embeddings.numpy(), atol=1e-3)  # float16 on disk
    assert Knowledge.load(tmp_path / "nowhere") is None
    (tmp_path / FILE_NAME).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(ModelError, match="corrupt"):
        Knowledge.load(tmp_path)


def test_familiarity_names_the_closest_actions():
    k = small_knowledge()
    enc = text_encoder()
    walk, chair = k.familiarity(enc.encode([action_phrase("a woman walks to the shop"),
                                            action_phrase("a man sits down on a chair")]))
    assert walk.known and walk.closest[0] == "walk"
    assert not chair.known and chair.score < walk.score and set(chair.closest) == set(KNOWN)


def test_cli_prints_one_warning_line_only_for_unfamiliar_prompts(tmp_path, capsys):
    model = make_tiny_model_dir(tmp_path / "tiny")
    small_knowledge().save(model)
    assert main(["generate", "a man sits down on a chair", "--frames", "8", "--model", str(model),
                 "--out", str(tmp_path / "a.npz")]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "warning" in line]
    assert len(lines) == 1 and "unlike anything this model was trained on" in lines[0] and "walk" in lines[0]
    assert main(["generate", "a person walks forward", "--frames", "8", "--model", str(model),
                 "--out", str(tmp_path / "b.npz")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["info", "--model", str(model)]) == 0
    assert "knows:         2 actions: walk, wave right hand" in capsys.readouterr().out


def test_server_adds_warnings_to_its_json():
    gen = tiny_generator()
    gen.knowledge = small_knowledge()
    server = Running(gen)
    try:
        prompts = ["a person walks forward", "a man plays the guitar"]
        status, body = server.request("POST", "/generate", {"prompts": prompts, "frames": 8})
        assert status == 200, body
        assert len(body["warnings"]) == 1 and "guitar" in body["warnings"][0]
        status, body = server.request("POST", "/generate", {"prompt": "someone strolls ahead", "frames": 8})
        assert status == 200 and body["warnings"] == []
    finally:
        server.close()


@pytest.mark.skipif(not (DEFAULT_MODEL / "config.json").is_file(), reason="no model in assets/default")
def test_shipped_model_knows_walks_and_warns_about_what_it_never_saw():
    from ropar_core.generator import Generator

    assert (DEFAULT_MODEL / FILE_NAME).is_file(), (
        "assets/default has no knowledge.safetensors: python -m training.build_knowledge --model "
        "assets/default --data CACHE [CACHE ...] (the caches the model was trained on)")
    g = Generator.from_pretrained(device="cpu")
    # prompts nothing in any of our data sets resembles (also after retraining on more sources)
    fams = g.familiarity(["a person walks", "a man walks forward", "someone plays the guitar",
                          "a person types on a keyboard", "someone brushes their teeth"])
    assert [f.known for f in fams] == [True, True, False, False, False]
    [m] = g.generate("someone plays the guitar", frames=8)
    assert m.warning and "the closest actions it knows: " in m.warning
    [m] = g.generate("a person walks", frames=8)
    assert m.warning is None


def test_threshold_separates_held_out_paraphrases():
    """The shipped threshold on the held-out prompts it was chosen on reproduces its stored calibration
    (a regression guard; the choice itself is build_knowledge's), and the stored unknown actions are the
    calibration file's (then, for the default model, those of the KIT-ML catalogue:
    tests/test_unknown_catalogue.py), none of them a benchmark prompt."""
    from benchmarks.bench_warning import KNOWN, UNKNOWN

    for model in (DEFAULT_MODEL, OPEN_MODEL):
        k = Knowledge.load(model)
        assert k.top_k == TOP_K and len(k.unknown) == len(k.unknown_texts) >= 50
        known, stored, extra = held_out(k.labels)
        assert stored == k.unknown_texts[:len(stored)] and len(known) >= 40 and len(extra) >= 10
        assert len(k.unknown_texts) - len(stored) == k.calibration.get("catalogue", {}).get("actions", 0)
        assert not set(stored + extra + known + k.unknown_texts) & set(KNOWN + UNKNOWN)
        report = calibrate(k, text_encoder(), known, stored + extra, max_false=0.05)
        assert abs(report["threshold"] - k.threshold) < 1e-3
        assert report["known_warned"] <= 0.05 and report["unknown_warned"] >= 0.75, report
        assert report["known_warned"] == pytest.approx(k.calibration["known_warned"], abs=0.02)


def test_margin_weighs_the_unknown_actions_and_leaves_a_listed_one_out():
    """A prompt near a listed unknown action is warned although it shares words with a known one; a
    listed unknown action judged for calibration is compared with the other listed ones only."""
    enc = text_encoder()
    k = small_knowledge(threshold=0.0)
    k.top_k = 2
    unknown = ["a man plays the guitar", "a person irons a shirt"]
    k = with_unknown(k, enc, unknown)
    assert k.top_k == TOP_K and k.unknown_texts == unknown
    guitar, walk = k.familiarity(enc.encode([action_phrase("someone plays the guitar while walking"),
                                             action_phrase("a person walks to the shop")]))
    assert guitar.unknown_like == "a man plays the guitar" and guitar.margin < 0 and not guitar.known
    assert walk.known and walk.margin > 0.2
    [itself] = margins(k, enc, ["a man plays the guitar"])
    assert itself.unknown_like == "a person irons a shirt" and itself.unknown_score < 0.9
    line = warning_for("someone plays the guitar while walking", guitar)
    assert "nearer to actions it never saw, like 'a man plays the guitar'" in line


def test_unknown_actions_round_trip_and_an_older_file_keeps_its_meaning(tmp_path):
    enc = text_encoder()
    k = with_unknown(small_knowledge(0.1), enc, ["a man plays the guitar"])
    k.calibration = {"known_warned": 0.04}
    k.save(tmp_path)
    back = Knowledge.load(tmp_path)
    assert back.unknown_texts == ["a man plays the guitar"] and back.top_k == TOP_K
    assert back.calibration == {"known_warned": 0.04}
    assert np.allclose(back.unknown.numpy(), k.unknown.numpy(), atol=1e-3)
    old = small_knowledge(0.5)  # written before the unknown actions: nearest caption against 0.5
    old.save(tmp_path)
    back = Knowledge.load(tmp_path)
    assert back.top_k == 1 and len(back.unknown) == 0
    [f] = back.familiarity(enc.encode(["walks forward"]))
    assert f.unknown_score == 0.0 and f.margin == f.score and f.known == (f.score >= 0.5)


def test_learning_an_action_takes_it_off_the_unknown_list():
    """A fine-tuned model's new caption (training/finetune.py) is known from then on: listed unknown actions
    that are the same action in other words leave the list, the others stay."""
    enc = text_encoder()
    k = with_unknown(small_knowledge(0.0), enc, ["a juggler juggles three balls", "a man plays the piano"])
    learnt = k.with_captions(enc.encode([action_phrase("someone juggles three balls")]).numpy(),
                             ["juggles three balls"])
    assert learnt.unknown_texts == ["a man plays the piano"] and len(learnt.unknown) == 1
    assert learnt.labels[-1] == "juggles three balls" and learnt.top_k == k.top_k
    [f] = learnt.familiarity(enc.encode([action_phrase("a woman juggles three balls")]))
    assert f.known and f.closest[0] == "juggles three balls"


def test_a_corrupt_unknown_list_is_one_clear_error(tmp_path):
    from safetensors.numpy import save_file

    k = with_unknown(small_knowledge(0.1), text_encoder(), ["a man plays the guitar", "someone irons"])
    meta = {"labels": json.dumps(k.labels), "threshold": "0.1", "unknown_texts": json.dumps(["only one"])}
    save_file({"embeddings": k.embeddings.numpy(), "action": k.action.astype(np.int32),
               "unknown": k.unknown.numpy()}, str(tmp_path / FILE_NAME), metadata=meta)
    with pytest.raises(ModelError, match="corrupt .*unknown actions"):
        Knowledge.load(tmp_path)
    meta.update(unknown_texts=json.dumps(["a", "b"]), top_k="0")
    save_file({"embeddings": k.embeddings.numpy(), "action": k.action.astype(np.int32),
               "unknown": k.unknown.numpy()}, str(tmp_path / FILE_NAME), metadata=meta)
    with pytest.raises(ModelError, match="top_k"):
        Knowledge.load(tmp_path)


def test_build_knowledge_keep_captions_recalibrates_in_place(tmp_path, capsys):
    from training.train.build_knowledge import main as build_main

    model = make_tiny_model_dir(tmp_path / "tiny")
    assert build_main(["--model", str(model), "--keep-captions"]) == 2  # nothing to keep yet
    assert "no knowledge.safetensors to keep" in capsys.readouterr().err
    small_knowledge().save(model)
    assert build_main(["--model", str(model), "--keep-captions", "--data", "x"]) == 2
    capsys.readouterr()
    # the KIT-ML catalogue is tests/test_unknown_catalogue.py's: here the calibration file's actions only
    assert build_main(["--model", str(model), "--keep-captions", "--unknown-catalogue", "none"]) == 0
    out = capsys.readouterr().out
    k = Knowledge.load(model)
    assert k.labels == list(KNOWN) and len(k.unknown_texts) >= 50 and k.top_k == TOP_K
    assert f"margin threshold {k.threshold:+.3f}" in out and k.calibration["known_prompts"] >= 10
