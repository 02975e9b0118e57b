"""What a model knows (issue 15): a compact summary of its training captions, stored with the model, and
how close a prompt comes to it, against how close it comes to everyday actions the model was never
trained on.

`knowledge.safetensors` in a model directory holds `embeddings` (K, D) float16, L2-normalised sentence
embeddings of distinct training captions (per action at most a few dozen, spread over the phrasings by
farthest-point selection), `action` (K,) int32 indices into the action labels and, in files written since
the warning was recalibrated, `unknown` (U, D) float16: embeddings of everyday actions none of the
training data holds (the unknown prompts of assets/agreement_calibration.json). Its metadata holds the
labels (JSON list), the unknown actions' texts, `top_k`, the text encoder's name, the threshold and the
calibration numbers. Captions and prompts are embedded without their leading subject (action_phrase).

    familiarity(action a)  = mean of the prompt's top_k cosine similarities to a's captions
    familiarity            = max over known actions a of familiarity(a)
    margin                 = familiarity - max cosine similarity to an unknown action

Averaging an action's few nearest captions, rather than taking the single nearest caption, lets a
paraphrase that is moderately close to several of an action's captions count; the margin asks whether
the prompt is nearer to what the model knows than to what it does not ("someone grooves at a party" is
near dance captions and near everyday acts, "someone irons a shirt" much nearer the latter). On the
held-out paraphrases the margin separated known from unknown prompts clearly better than the nearest
caption alone, the averaging slightly (training/train/build_knowledge.py, docs/training.md 1d). A
prompt whose margin is below the threshold gets a warning naming the closest actions the model knows. A
file without `unknown` (older models) has top_k 1 and compares the familiarity itself with its threshold.
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
TOP_K = 3  # captions averaged per action (chosen on the calibration data; older files: 1)
# A listed unknown action this similar to a newly learnt caption is the same action in other words
# (0.9 for "a juggler juggles three balls" against "someone juggles three balls"; other actions stay < 0.6).
SAME_ACTION = 0.7
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
    score: float  # the nearest known action's mean similarity over its top_k captions
    closest: list[str]  # the nearest known actions, nearest first
    known: bool
    unknown_score: float = 0.0  # similarity to the nearest everyday action the model does not know
    unknown_like: str = ""  # that action ("" when the file lists none)

    @property
    def margin(self) -> float:
        """How much nearer the prompt is to the known actions than to the unknown ones."""
        return self.score - self.unknown_score


class Knowledge:
    def __init__(self, embeddings: np.ndarray, action: np.ndarray, labels: list[str], threshold: float,
                 text_encoder: str = "", unknown: np.ndarray | None = None,
                 unknown_texts: list[str] | None = None, top_k: int = 1, calibration: dict | None = None):
        self.embeddings = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))  # (K, D)
        self.action = np.asarray(action, dtype=np.int64)  # (K,)
        self.labels = list(labels)
        self.threshold = float(threshold)
        self.text_encoder = text_encoder
        dim = self.embeddings.shape[1]
        self.unknown = torch.as_tensor(np.asarray(unknown if unknown is not None else np.zeros((0, dim)),
                                                  dtype=np.float32))  # (U, D)
        self.unknown_texts = list(unknown_texts or [])
        self.top_k = int(top_k)
        self.calibration = dict(calibration or {})

    def with_captions(self, embeddings: np.ndarray, labels: list[str]) -> Knowledge:
        """This summary plus one new action per row of embeddings (a fine-tuned model's new captions); the
        listed unknown actions that are one of them in other words are known now, and leave the list."""
        action = np.concatenate([self.action, len(self.labels) + np.arange(len(labels))])
        unknown = self.unknown.numpy()
        keep = (unknown @ np.asarray(embeddings, np.float32).T).max(1, initial=-1.0) < SAME_ACTION
        return Knowledge(np.concatenate([self.embeddings.numpy(), embeddings]), action, self.labels + labels,
                         self.threshold, self.text_encoder, unknown[keep],
                         [t for t, k in zip(self.unknown_texts, keep) if k], self.top_k, self.calibration)

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
                unknown = f.get_tensor("unknown") if "unknown" in f.keys() else None  # noqa: SIM118
            what = f"corrupt {path}"
            labels = limits.parse_json(meta["labels"], f"{what}: labels", error=ModelError)
            unknown_texts = limits.parse_json(meta.get("unknown_texts", "[]"), what, error=ModelError)
            calibration = limits.parse_json(meta.get("calibration", "{}"), what, error=ModelError)
            threshold = float(meta.get("threshold", DEFAULT_THRESHOLD))
            top_k = int(meta.get("top_k", 1))
        except (SafetensorError, OSError, KeyError, ValueError) as exc:
            raise ModelError(f"corrupt {path}: {exc}") from None
        if not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
            raise ModelError(f"corrupt {path}: the labels are not a list of names")
        texts_ok = isinstance(unknown_texts, list) and all(isinstance(x, str) for x in unknown_texts)
        if unknown is not None and (unknown.ndim != 2 or unknown.shape[1:] != emb.shape[1:]
                                    or not texts_ok or len(unknown_texts) != len(unknown)):
            raise ModelError(f"corrupt {path}: unknown actions {unknown.shape} for embeddings {emb.shape}")
        if not 1 <= top_k <= 1000:
            raise ModelError(f"corrupt {path}: top_k {top_k} is not a small positive count")
        if not -2.0 <= threshold <= 2.0:  # a (difference of) cosine similarities; NaN would flag every prompt
            raise ModelError(f"corrupt {path}: threshold {threshold!r} is not a similarity margin in [-2, 2]")
        if emb.ndim != 2 or action.shape != (len(emb),) or len(labels) <= int(action.max(initial=0)):
            raise ModelError(f"corrupt {path}: embeddings {emb.shape}, actions {action.shape}, "
                             f"{len(labels)} labels")
        return cls(emb, action, labels, threshold, meta.get("text_encoder", ""), unknown,
                   unknown_texts if unknown is not None else [], top_k,
                   calibration if isinstance(calibration, dict) else {})

    def save(self, model_dir: str | Path) -> Path:
        from safetensors.numpy import save_file

        from ropar_core.atomic import atomic_path

        path = Path(model_dir) / FILE_NAME
        meta = {"labels": json.dumps(self.labels), "threshold": repr(self.threshold),
                "text_encoder": self.text_encoder, "top_k": str(self.top_k),
                "calibration": json.dumps(self.calibration)}
        tensors = {"embeddings": self.embeddings.numpy().astype(np.float16),
                   "action": self.action.astype(np.int32)}
        if len(self.unknown):
            tensors["unknown"] = self.unknown.numpy().astype(np.float16)
            meta["unknown_texts"] = json.dumps(self.unknown_texts)
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return path

    def scores(self, text_emb: torch.Tensor) -> torch.Tensor:
        """(B, D) L2-normalised prompt embeddings -> (B, K) cosine similarities."""
        return text_emb.float().cpu() @ self.embeddings.T

    def action_scores(self, text_emb: torch.Tensor) -> np.ndarray:
        """(B, D) -> (B, A): per action label the mean similarity of its top_k captions."""
        sims = self.scores(text_emb).numpy()
        out = np.full((len(sims), len(self.labels)), -1.0, dtype=np.float32)
        for a in range(len(self.labels)):
            rows = self.action == a
            if rows.any():
                k = min(self.top_k, int(rows.sum()))
                out[:, a] = -np.sort(-sims[:, rows], axis=1)[:, :k].mean(1)
        return out

    def familiarity(self, text_emb: torch.Tensor, skip_unknown: list[int] | None = None) -> list[Familiarity]:
        """(B, D) prompt embeddings -> one Familiarity each. skip_unknown[i]: an unknown action row not to
        compare prompt i with (calibration judges each listed unknown action against the others)."""
        per_action = self.action_scores(text_emb)
        unknown = (text_emb.float().cpu() @ self.unknown.T).numpy()  # (B, U)
        out = []
        for i, row in enumerate(per_action):
            order = np.argsort(-row)[:CLOSEST]
            best = float(row[order[0]]) if len(order) else -1.0
            u_score, u_like = 0.0, ""
            if unknown.shape[1]:
                u_row = unknown[i].copy()
                if skip_unknown is not None and skip_unknown[i] >= 0:
                    u_row[skip_unknown[i]] = -1.0
                j = int(np.argmax(u_row))
                u_score, u_like = float(u_row[j]), self.unknown_texts[j]
            fam = Familiarity(best, [self.labels[a] for a in order], True, u_score, u_like)
            fam.known = fam.margin >= self.threshold
            out.append(fam)
        return out


def warning_for(prompt: str, fam: Familiarity) -> str | None:
    """One line for the user when the prompt is unlike anything the model was trained on."""
    if fam.known:
        return None
    if fam.unknown_like:
        return (f"{prompt!r} is unlike anything this model was trained on (similarity {fam.score:.2f}, "
                f"nearer to actions it never saw, like {fam.unknown_like!r}); "
                f"the closest actions it knows: {', '.join(fam.closest)}")
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
