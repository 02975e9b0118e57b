"""Caption embeddings on disk, keyed by the text encoder's identity and the text.

Training runs and evaluations encode the same few thousand captions again and again; on a shared CPU that
costs minutes each time. `TextEncoder` looks prompts up here first and adds what it had to compute.

Layout: <root>/<encoder name>-<fingerprint>/<content hash>.safetensors, each shard holding one (N, D)
float32 tensor "emb" and its texts (JSON) in the safetensors metadata. The fingerprint hashes the files
that decide the vectors (weights, tokenizer, config) and the truncation length, so a different encoder or
setting never reads another's vectors. Shards are written atomically and never edited, so processes that
share a root only ever add files; `compact` merges them into one.

Where: `use_disk_cache(root)` for this process (training entry points call `enable_for_training()`), or
the ROPAR_TEXT_CACHE environment variable (a directory; "off" disables it everywhere).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

import torch

from ropar_core.atomic import atomic_path
from ropar_core.errors import ModelError

ENV = "ROPAR_TEXT_CACHE"
TRAINING_DEFAULT = Path.home() / ".cache" / "ropar" / "text-embeddings"
MAX_SHARDS = 32  # beyond this many shards a store merges them on the next write
_IDENTITY_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                   "special_tokens_map.json", "sentencepiece.bpe.model", "spiece.model", "merges.txt")
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_root: Path | None = None  # this process's choice (use_disk_cache); the environment wins over it


def use_disk_cache(root: str | os.PathLike | None) -> None:
    """Cache every TextEncoder created from now on in this process under `root` (None: no cache)."""
    global _root
    _root = Path(root) if root is not None else None


def enable_for_training() -> None:
    """Training and evaluation (the `python -m training.<command>` entry points): cache under
    ~/.cache/ropar/text-embeddings unless ROPAR_TEXT_CACHE or an earlier use_disk_cache() said otherwise."""
    if _root is None:
        use_disk_cache(TRAINING_DEFAULT)


def current_root() -> Path | None:
    env = os.environ.get(ENV)
    if env is not None and env.strip():
        return None if env.strip().lower() in ("off", "0", "none", "false") else Path(env)
    return _root


def encoder_fingerprint(path: str, max_length: int) -> str:
    """sha256 (16 hex) over the files that decide the vectors, or over the name for a hub id."""
    h = hashlib.sha256(f"mean-pool-l2|max_length={max_length}".encode())
    folder = Path(path)
    if not folder.is_dir():
        h.update(f"|name={path}".encode())
        return h.hexdigest()[:16]
    files = sorted(p for p in folder.iterdir() if p.is_file()
                   and (p.name in _IDENTITY_FILES or p.suffix in _WEIGHT_SUFFIXES))
    for p in files:
        h.update(f"|{p.name}|".encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()[:16]


def _slug(encoder_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(encoder_name).name or "encoder")[:48]


class EmbeddingStore:
    """All vectors of one encoder under one root: `lookup(texts)` -> {text: vector}, `add(texts, emb)`."""

    def __init__(self, root: str | os.PathLike, encoder_name: str, fingerprint: str):
        self.dir = Path(root) / f"{_slug(encoder_name)}-{fingerprint}"
        self._vectors: dict[str, torch.Tensor] = {}
        self._seen: set[str] = set()  # shard names already read
        self._writable = True

    @classmethod
    def find(cls, root: str | os.PathLike, encoder_name: str) -> EmbeddingStore | None:
        """The one non-empty store of `encoder_name` under root, for use without the encoder's weights (its
        fingerprint cannot be recomputed then, so there must be exactly one); None when there is none."""
        dirs = [d for d in sorted(Path(root).glob(f"{_slug(encoder_name)}-*"))
                if d.is_dir() and any(d.glob("*.safetensors"))]
        if len(dirs) > 1:
            raise ModelError(f"text encoder {encoder_name!r} is not installed and {root} holds "
                             f"{len(dirs)} caption caches for it; keep one")
        if not dirs:
            return None
        store = cls(root, encoder_name, dirs[0].name[len(_slug(encoder_name)) + 1:])
        store.refresh()
        return store if store._vectors else None

    def dim(self) -> int:
        self.refresh()
        return int(next(iter(self._vectors.values())).shape[-1])

    def _shards(self) -> list[Path]:
        return sorted(self.dir.glob("*.safetensors")) if self.dir.is_dir() else []

    def refresh(self) -> None:
        """Read shards other processes added since the last look."""
        from safetensors import safe_open

        for shard in self._shards():
            if shard.name in self._seen:
                continue
            try:
                with safe_open(str(shard), framework="pt") as f:
                    texts = json.loads(f.metadata()["texts"])
                    emb = f.get_tensor("emb").float()
            except FileNotFoundError:
                continue  # merged away by another process meanwhile; its vectors are in the merged shard
            except Exception as exc:  # a damaged shard costs recomputation, never a wrong vector
                print(f"warning: ignoring unreadable text-embedding shard {shard}: {exc}", file=sys.stderr)
                self._seen.add(shard.name)
                continue
            if emb.ndim == 2 and len(texts) == emb.shape[0]:
                self._vectors.update(zip(texts, emb))
            self._seen.add(shard.name)

    def lookup(self, texts) -> dict[str, torch.Tensor]:
        if any(t not in self._vectors for t in texts):
            self.refresh()
        return {t: self._vectors[t] for t in texts if t in self._vectors}

    def add(self, texts: list[str], emb: torch.Tensor) -> None:
        """Keep the vectors in memory and, when the directory is writable, in a new shard."""
        emb = emb.detach().float().cpu().contiguous()
        self._vectors.update(zip(texts, emb))
        if not texts or not self._writable:
            return
        try:
            self._write(texts, emb)
            if len(self._shards()) > MAX_SHARDS:
                self.compact()
        except OSError as exc:
            self._writable = False
            print(f"warning: text-embedding cache {self.dir} is not writable ({exc}); "
                  "keeping vectors in memory only", file=sys.stderr)

    def _write(self, texts: list[str], emb: torch.Tensor) -> str:
        from safetensors.torch import save_file

        meta = json.dumps(list(texts), ensure_ascii=False)
        name = hashlib.sha256(meta.encode() + emb.numpy().tobytes()).hexdigest()[:24] + ".safetensors"
        with atomic_path(self.dir / name) as tmp:
            save_file({"emb": emb}, str(tmp), metadata={"texts": meta})
        self._seen.add(name)
        return name

    def compact(self) -> None:
        """Merge every shard this process has read into one; shards written meanwhile by others stay."""
        self.refresh()
        old = [p for p in self._shards() if p.name in self._seen]
        if len(old) <= 1 or not self._vectors:
            return
        texts = list(self._vectors)
        merged = self._write(texts, torch.stack([self._vectors[t] for t in texts]))
        for p in old:
            if p.name != merged:
                p.unlink(missing_ok=True)
