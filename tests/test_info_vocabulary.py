"""`ropar info` prints what the model was trained on (vocabulary.json written by training.prepare_multi)."""

from __future__ import annotations

import json

from ropar_core.cli import main
from tests.helpers.tiny_model import make_tiny_model_dir

ROWS = [
    {"action": "kick", "source": "bandai1", "clips": 1, "minutes": 0.2, "licence": "CC BY-NC 4.0"},
    {"action": "kick", "source": "deepmimic", "clips": 2, "minutes": 0.05, "licence": "MIT"},
    {"action": "walk", "source": "bandai2", "clips": 155, "minutes": 21.47, "licence": "CC BY-NC 4.0"},
]


def test_info_lists_the_vocabulary_merged_over_sources(tmp_path, capsys):
    model = make_tiny_model_dir(tmp_path / "m")
    assert main(["info", "--model", str(model)]) == 0
    assert "vocabulary:" not in capsys.readouterr().out  # a model without the table says nothing
    (model / "vocabulary.json").write_text(json.dumps(ROWS))
    assert main(["info", "--model", str(model)]) == 0
    out = capsys.readouterr().out
    assert "vocabulary:    2 actions from bandai1, bandai2, deepmimic (158 clips, 22 min):" in out
    lines = out.split("vocabulary:")[1].splitlines()[1:]
    assert lines[0].split() == ["walk", "155", "clips", "21.5", "min", "(bandai2)"]
    assert lines[1].split() == ["kick", "3", "clips", "0.2", "min", "(bandai1,", "deepmimic)"]
    assert main(["info", "--model", str(model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["vocabulary"][2]["clips"] == 155


def test_broken_vocabulary_is_one_error_line(tmp_path, capsys):
    model = make_tiny_model_dir(tmp_path / "m")
    (model / "vocabulary.json").write_text('[{"action": "kick"}]')
    assert main(["info", "--model", str(model)]) == 2
    assert "not a vocabulary table" in capsys.readouterr().err
