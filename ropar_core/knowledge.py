"""What a model knows (issue 15): a compact summary of its training captions, stored with the model, and
how close a prompt comes to it.

`knowledge.safetensors` in a model directory holds `embeddings` (K, D) float16, L2-normalised sentence
embeddings of distinct training captions (per action at most a few dozen, spread over the phrasings by
farthest-point selection), `action` (K,) int32 indices into the action labels; its metadata holds the
labels (JSON list), the text encoder's name and the threshold. Captions and prompts are embedded without
their leading subject (action_phrase). A prompt's familiarity is its largest cosine similarity to any
stored caption; below the threshold (chosen on held-out paraphrases, see
training/train/build_knowledge.py) the prompt gets a warning naming the closest actions the model knows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ropar_core import limits
from ropar_core.errors import ModelError

FILE_NAME = "knowledge.safetensors"
DEFAULT_THRESHOLD = 0.6
CLOSEST = 3  # actions named in a warning
# Who does it says nothing about what is done, yet "a person ..." alone makes any two captions look alike
# to a sentence encoder; prompts and captions are compared without a leading subject phrase.
_SUBJECT = re.compile(
    r"^\s*(?:(?:a|an|the|some|this|that|my|his|her)\s+)?(?:[\w-]+\s+){0,3}?"
    r"(?:person|people|man|men|woman|women|someone|somebody|human|character|guy|girl|boy|kid|child|lady|"
    r"figure|individual|he|she|they|it|senior|athlete|runner|dancer|player)\s+(?:is\s+|are\s+)?", re.I)


def action_phrase(text: str) -> str:
    """'an old man slowly walks ahead' -> 'slowly walks ahead' (the text itself if nothing is left)."""
    rest = _SUBJECT.sub("", " ".join(text.split()), count=1).strip()
    return rest or " ".join(text.split())


@dataclass
class Familiarity:
    score: float  # largest cosine similarity to a training caption
    closest: list[str]  # the nearest known actions, nearest first
    known: bool


class Knowledge:
    def __init__(self, embeddings: np.ndarray, action: np.ndarray, labels: list[str], threshold: float,
                 text_encoder: str = ""):
        self.embeddings = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))  # (K, D)
        self.action = np.asarray(action, dtype=np.int64)  # (K,)
        self.labels = list(labels)
        self.threshold = float(threshold)
        self.text_encoder = text_encoder

    @classmethod
    def load(cls, model_dir: str | Path) -> Knowledge | None:
        """The model directory's summary, or None when it has none (older models)."""
        from safetensors import SafetensorError, safe_open

        path = Path(model_dir) / FILE_NAME
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="np") as f:
                meta = f.metadata() or {}
                emb, action = f.get_tensor("embeddings"), f.get_tensor("action")
            labels = limits.parse_json(meta["labels"], f"corrupt {path}: labels", error=ModelError)
            threshold = float(meta.get("threshold", DEFAULT_THRESHOLD))
        except (SafetensorError, OSError, KeyError, ValueError) as exc:
            raise ModelError(f"corrupt {path}: {exc}") from None
        if not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
            raise ModelError(f"corrupt {path}: the labels are not a list of names")
        if not -1.0 <= threshold <= 1.0:  # a cosine similarity; NaN would flag every prompt
            raise ModelError(f"corrupt {path}: threshold {threshold!r} is not a similarity in [-1, 1]")
        if emb.ndim != 2 or action.shape != (len(emb),) or len(labels) <= int(action.max(initial=0)):
            raise ModelError(f"corrupt {path}: embeddings {emb.shape}, actions {action.shape}, "
                             f"{len(labels)} labels")
        return cls(emb, action, labels, threshold, meta.get("text_encoder", ""))

    def save(self, model_dir: str | Path) -> Path:
        from safetensors.numpy import save_file

        from ropar_core.atomic import atomic_path

        path = Path(model_dir) / FILE_NAME
        meta = {"labels": json.dumps(self.labels), "threshold": repr(self.threshold),
                "text_encoder": self.text_encoder}
        with atomic_path(path) as tmp:
            save_file({"embeddings": self.embeddings.numpy().astype(np.float16),
                       "action": self.action.astype(np.int32)}, str(tmp), metadata=meta)
        return path

    def scores(self, text_emb: torch.Tensor) -> torch.Tensor:
        """(B, D) L2-normalised prompt embeddings -> (B, K) cosine similarities."""
        return text_emb.float().cpu() @ self.embeddings.T

    def action_scores(self, text_emb: torch.Tensor) -> np.ndarray:
        """(B, D) -> (B, A): per action label its best caption's similarity."""
        sims = self.scores(text_emb).numpy()
        out = np.full((len(sims), len(self.labels)), -1.0, dtype=np.float32)
        for a in range(len(self.labels)):
            rows = self.action == a
            if rows.any():
                out[:, a] = sims[:, rows].max(1)
        return out

    def familiarity(self, text_emb: torch.Tensor) -> list[Familiarity]:
        per_action = self.action_scores(text_emb)
        out = []
        for row in per_action:
            order = np.argsort(-row)[:CLOSEST]
            best = float(row[order[0]]) if len(order) else -1.0
            out.append(Familiarity(best, [self.labels[i] for i in order], best >= self.threshold))
        return out


def warning_for(prompt: str, fam: Familiarity) -> str | None:
    """One line for the user when the prompt is unlike anything the model was trained on."""
    if fam.known:
        return None
    return (f"{prompt!r} is unlike anything this model was trained on (similarity {fam.score:.2f}); "
            f"the closest actions it knows: {', '.join(fam.closest)}")


def label_of(content: str) -> str:
    """A cache clip's content tag -> a readable action label ("walk-turn-left" -> "walk turn left")."""
    return " ".join(str(content).replace("_", " ").replace("-", " ").split())


def farthest_points(emb: np.ndarray, k: int) -> np.ndarray:
    """Indices of k rows of L2-normalised emb spread over its directions (greedy farthest point)."""
    if len(emb) <= k:
        return np.arange(len(emb))
    chosen = [0]
    best = emb @ emb[0]
    for _ in range(k - 1):
        i = int(np.argmin(best))
        chosen.append(i)
        best = np.maximum(best, emb @ emb[i])
    return np.array(sorted(chosen))
