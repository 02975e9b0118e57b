"""Unknown actions from the KIT Motion-Language captions (training/train/unknown_catalogue.py): only motions
the model does not know enter, judged by motion, not by caption; the shipped default model stores them, and
none is a benchmark prompt or a caption of an action the model has a label for."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ropar_core.errors import RoparError
from ropar_core.knowledge import Knowledge, action_phrase
from tests.helpers.tiny_model import make_tiny_model_dir, text_encoder
from training.train import unknown_catalogue as uc
from training.train.build_knowledge import held_out
from training.train.build_knowledge import main as build_main

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "assets" / "default"
KIT = uc.DEFAULT  # the shared KIT-ML captions (../shared/datasets/kitml-captions.json)
KNOWN = {"walk": ["a person walks forward", "someone strolls ahead slowly", "an old man walks straight on"],
         "wave right hand": ["a person waves with the right hand", "someone waves hello with the right arm"]}


def small_knowledge() -> Knowledge:
    """A model that knows walking and waving with the right hand, from these captions."""
    enc = text_encoder()
    labels = list(KNOWN)
    emb = [enc.encode([action_phrase(t) for t in KNOWN[k]]).numpy() for k in labels]
    action = np.concatenate([np.full(len(e), i) for i, e in enumerate(emb)])
    return Knowledge(np.concatenate(emb), action, labels, 0.5, "all-MiniLM-L6-v2")


def kit_motions(*ids: str) -> list[dict]:
    """The real KIT-ML captions of these motions (their mirrors too)."""
    items = json.loads(KIT.read_text())
    return [x for x in items if uc.motion_id(x["id"]) in ids]


def test_a_label_is_named_in_any_inflection_and_side():
    words = uc.label_words(["walk", "wave right hand", "get up", "zombie walk"])
    assert uc.names_a_label("A person is walking forwards.", words)
    assert uc.names_a_label("a man is waving with his left hand", words)  # any side: still a wave
    assert uc.names_a_label("someone gets up from the floor", words)
    assert not uc.names_a_label("A person sits down on a chair", words)
    assert not uc.names_a_label("someone runs in a circle", words)
    assert uc.stem("running") == "run" and uc.stem("dancing") == uc.stem("dance")
    assert uc.stem("bowls") != uc.stem("bow")


def test_a_motion_the_model_knows_leaves_with_all_its_captions(tmp_path):
    """KIT motion 00004: 'A person walks forward at medium speed' and 'human slowly goes forward': the
    second names no label, yet the motion is a walk, so neither enters. Squats, golf and a violin enter,
    each caption once; a spam caption never does."""
    path = tmp_path / "kit.json"
    items = kit_motions("00004", "00594", "01341", "01421", "02526")
    assert {uc.motion_id(x["id"]) for x in items} == {"00004", "00594", "01341", "01421", "02526"}
    path.write_text(json.dumps(items))
    know = small_knowledge()
    know.top_k = 3
    texts, emb, summary = uc.select(path, know, text_encoder(), cut=0.6)
    assert "slowly goes forward" not in " ".join(texts) and not any("walk" in t for t in texts)
    assert "performs a squat" in texts and "playing golf" in texts and "plays the violin once" in texts
    assert not any("http" in t or "mcgraw" in t for t in texts)
    assert len(texts) == len(set(texts)) == len(emb) and emb.shape[1] == know.embeddings.shape[1]
    assert summary["motions"] == 4 and summary["motions_known_by_label"] == 1  # the spam motion is gone
    assert summary["actions"] == len(texts)
    # a lower cut: a motion as familiar as that to the walk and wave captions counts as known too
    fewer, _, low = uc.select(path, know, text_encoder(), cut=0.2)
    assert set(fewer) < set(texts) and low["motions_known_by_familiarity"] >= 1


def test_a_bad_catalogue_is_one_clear_error(tmp_path, capsys):
    path = tmp_path / "kit.json"
    for bad in ("{not json", json.dumps({"id": "1", "text": "x"}), json.dumps([{"id": 1, "text": "x"}])):
        path.write_text(bad)
        with pytest.raises(RoparError, match="catalogue kit.json"):
            uc.read(path)
    model = make_tiny_model_dir(tmp_path / "tiny")
    small_knowledge().save(model)
    argv = ["--model", str(model), "--keep-captions", "--unknown-catalogue"]
    assert build_main(argv + [str(tmp_path / "nowhere.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no unknown-action catalogue" in err and "--unknown-catalogue none" in err
    assert build_main(argv + [str(path)]) == 2 and "build_knowledge: error:" in capsys.readouterr().err


def test_build_knowledge_stores_the_catalogue_after_the_calibration_file(tmp_path, capsys):
    path = tmp_path / "kit.json"
    path.write_text(json.dumps(kit_motions("00004", "00594", "01341", "01421")))
    model = make_tiny_model_dir(tmp_path / "tiny")
    small_knowledge().save(model)
    assert build_main(["--model", str(model), "--keep-captions", "--unknown-catalogue", str(path)]) == 0
    k = Knowledge.load(model)
    stored = held_out(k.labels)[1]
    assert k.labels == list(KNOWN) and k.unknown_texts[:len(stored)] == stored
    extra = k.unknown_texts[len(stored):]
    assert "playing golf" in extra and "slowly goes forward" not in extra
    assert len(k.unknown) == len(k.unknown_texts)
    cat = k.calibration["catalogue"]
    assert cat["file"] == "kit.json" and cat["actions"] == len(extra) and 0 < cat["cut"] < 1
    assert f"({len(extra)} from the catalogue)" in capsys.readouterr().out


def test_shipped_default_model_stores_kit_captions_of_actions_it_does_not_know():
    """The default model's catalogue actions are KIT-ML captions' action phrases, none naming one of its
    action labels, none as familiar as the stored cut, none a benchmark prompt; the calibration file's
    unknown actions come first, unchanged."""
    from benchmarks.bench_warning import KNOWN as BENCH_KNOWN
    from benchmarks.bench_warning import UNKNOWN as BENCH_UNKNOWN

    k = Knowledge.load(DEFAULT_MODEL)
    stored = held_out(k.labels)[1]
    assert k.unknown_texts[:len(stored)] == stored
    catalogue = k.unknown_texts[len(stored):]
    cat = k.calibration["catalogue"]
    assert cat["file"] == KIT.name and cat["actions"] == len(catalogue) >= 50
    kit = {t for texts in uc.read(KIT).values() for t in texts}
    assert set(catalogue) <= kit and len(set(catalogue)) == len(catalogue)
    words = uc.label_words(k.labels)
    assert not [t for t in catalogue if uc.names_a_label(t, words)]
    assert k.action_scores(k.unknown[len(stored):]).max(1).max() < cat["cut"]
    bench = BENCH_KNOWN + BENCH_UNKNOWN
    assert not set(catalogue) & (set(bench) | {action_phrase(t.lower()) for t in bench})
    # KIT's walk and wave captions are this model's actions: their phrases are nowhere in the list
    assert not {"walks forward", "waves with the right hand", "is running"} & set(catalogue)


def test_shipped_default_model_warns_near_the_kit_actions_and_not_on_known_paraphrases():
    """With the KIT-ML actions stored: a hand-written unknown action of the calibration file and an action
    only KIT describes are warned on every seed, the latter naming a KIT caption; known actions in words
    their captions do not use (the calibration file's) are not."""
    from ropar_core.generator import Generator

    g = Generator.from_pretrained(DEFAULT_MODEL, device="cpu")
    stored = held_out(g.knowledge.labels)[1]
    catalogue = set(g.knowledge.unknown_texts[len(stored):])
    assert "a woman irons a shirt" in stored
    [burger] = g.familiarity(["a man eats a burger"])
    assert burger.unknown_like == "eats a hamburger" and burger.unknown_like in catalogue
    assert not burger.known
    known = ["a guy strolls down the sidewalk", "a boxer throws a straight punch"]
    unknown = ["a woman irons a shirt", "a man eats a burger"]
    for seed in (0, 1, 2):
        motions = g.generate(known + unknown, seconds=4, seed=seed)
        assert [m.warning is not None for m in motions] == [False, False, True, True], seed
    assert "nearer to actions it never saw, like 'eats a hamburger'" in motions[3].warning
