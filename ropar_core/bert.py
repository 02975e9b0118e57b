"""A BERT encoder small enough to own: the forward pass of Hugging Face's `BertModel` (absolute
positions, post-LayerNorm, exact GELU), loaded from a model directory's `model.safetensors` and run with
the `tokenizers` package's fast tokenizer from its `tokenizer.json`.

Why not `transformers`: importing it costs more than a second on a 2-core machine (it pulls in much
of torch's compiler stack), several times what running MiniLM costs, and `ropar generate` pays start-up
on every call. The module names mirror BertModel's state-dict keys so the weights load as they are;
tests/test_text.py checks the embeddings against transformers'.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int = 0


def read_config(model_dir: Path) -> BertConfig | None:
    """The directory's config.json as a BertConfig, or None when it is not a model this module runs
    exactly (another architecture, relative positions, another activation)."""
    try:
        raw = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("model_type") != "bert":
        return None
    kind = (raw.get("hidden_act", "gelu"), raw.get("position_embedding_type", "absolute"))
    if kind != ("gelu", "absolute"):
        return None
    try:
        return BertConfig(**{f: raw[f] for f in BertConfig.__dataclass_fields__ if f in raw})
    except TypeError:
        return None


# Layers that skip their random initialisation: every weight is replaced by the file's tensor, and
# initialising ~20 M numbers first would only cost time (building on the meta device instead makes
# torch import its compiler stack, seconds more).
class _Linear(nn.Linear):
    def reset_parameters(self) -> None:
        pass


class _Embedding(nn.Embedding):
    def reset_parameters(self) -> None:
        pass


class _Embeddings(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.word_embeddings = _Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position_embeddings = _Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = _Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        segment = self.token_type_embeddings.weight[0]  # single-segment input: type id 0 everywhere
        x = self.word_embeddings(ids) + self.position_embeddings(positions) + segment
        return self.LayerNorm(x)


class _SelfAttention(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.query = _Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = _Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = _Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        split = lambda t: t.view(B, L, self.heads, D // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // self.heads) + bias  # (B, H, L, L)
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, L, D)


class _DenseNorm(nn.Module):
    """dense -> residual add -> LayerNorm (BertSelfOutput and BertOutput)."""

    def __init__(self, d_in: int, d_out: int, eps: float):
        super().__init__()
        self.dense = _Linear(d_in, d_out)
        self.LayerNorm = nn.LayerNorm(d_out, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _Attention(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.self = _SelfAttention(cfg)
        self.output = _DenseNorm(cfg.hidden_size, cfg.hidden_size, cfg.layer_norm_eps)


class _Intermediate(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.dense = _Linear(cfg.hidden_size, cfg.intermediate_size)


class _Layer(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.attention = _Attention(cfg)
        self.intermediate = _Intermediate(cfg)
        self.output = _DenseNorm(cfg.intermediate_size, cfg.hidden_size, cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = self.attention.output(self.attention.self(x, bias), x)
        return self.output(F.gelu(self.intermediate.dense(x)), x)


class _Encoder(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(_Layer(cfg) for _ in range(cfg.num_hidden_layers))


class Bert(nn.Module):
    """ids (B, L) long, mask (B, L) 0/1 -> last hidden state (B, L, hidden). Single-segment input."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.cfg = cfg
        self.embeddings = _Embeddings(cfg)
        self.encoder = _Encoder(cfg)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(ids)
        # padded keys get the most negative float, as transformers' eager attention does
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, bias)
        return x

    @classmethod
    def load(cls, model_dir: Path, cfg: BertConfig) -> Bert:
        """Build without initialising and adopt the file's tensors (no copies)."""
        from safetensors.torch import load_file

        model = cls(cfg)
        wanted = set(model.state_dict())
        tensors = load_file(str(model_dir / "model.safetensors"))
        state = {k.removeprefix("bert."): v for k, v in tensors.items()}
        missing = sorted(wanted - set(state))
        if missing:
            raise KeyError(f"model.safetensors lacks {missing[0]} (and {len(missing) - 1} more)")
        model.load_state_dict({k: state[k] for k in wanted}, strict=True, assign=True)
        return model.eval().requires_grad_(False)


class FastTokenizer:
    """tokenizer.json through the `tokenizers` package: no truncation or padding inside (the file may
    fix both); `batch` truncates like transformers (keeping [SEP]) and pads to the longest."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_truncation()
        self._tok.no_padding()

    def __call__(self, text: str) -> dict:
        """Same shape as a transformers tokenizer's answer, for counting a prompt's tokens."""
        return {"input_ids": self._tok.encode(text).ids}

    def batch(self, texts: list[str], max_length: int, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [enc.ids for enc in self._tok.encode_batch(texts)]
        rows = [r if len(r) <= max_length else r[:max_length - 1] + r[-1:] for r in rows]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
            mask[i, :len(r)] = 1
        return ids, mask
