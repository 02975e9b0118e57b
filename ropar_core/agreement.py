"""Text-motion agreement: does a generated motion show what its prompt says? A per-model judge (a small
TMR-style retrieval model, ropar_core/evaluator.py, trained only on that model's own training data) embeds
the prompt and the motion, and compares both with every action the model was trained on (an action's
vector: the mean of the judge's embeddings of its training captions).

    reads_as(a)  = softmax over known actions a of cos(prompt, action a) / temperature
    agreement    = sum over a of reads_as(a) * cos(motion, action a)  -  max over a of cos(motion, action a)

i.e. how well the motion shows the known actions the prompt reads as, against the action it shows best.
A motion that shows its prompt scores near 0; a prompt the model cannot do ("sits down on a chair", read
as getting up) answered by another known action (a dance) scores well below 0. Going through the known
actions on the prompt side, rather than comparing prompt and motion directly, is what makes paraphrases
("jogs along the beach") land on their action: it separated known from unknown prompts better on the
calibration data (training/train/build_agreement.py). Below the threshold chosen there the Generator
warns and names the actions the motion looks like.

`agreement.safetensors` in a model directory holds the judge's weights (`judge.<name>`), its normalisation
`mean`/`std` (263,), the action vectors `actions` (A, latent) float32; its metadata holds the evaluator
config, the action labels, the text encoder's name, the temperature, the threshold, the calibration
numbers (JSON) and, in files calibrated since, the `rule` that decides the Generator's warning from this
score together with the prompt's familiarity (ropar_core/warning.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ropar_core import checkpoint, limits
from ropar_core.errors import ModelError
from ropar_core.evaluator import STD_FLOOR, Evaluator, EvaluatorConfig, pad_batch

FILE_NAME = "agreement.safetensors"
LOOKS_LIKE = 2  # actions named in a warning
TEMPERATURE = 0.05  # of the prompt's softmax over the known actions (chosen on the calibration data)
# Shorter motions are not judged: a fraction of a second shows no action yet (the threshold is calibrated
# on 4 s motions, training/train/build_agreement.py).
MIN_FRAMES = 40
_PREFIX = "judge."


@dataclass
class Agreement:
    score: float  # the prompt's actions' similarity to the motion - the best known action's
    looks_like: list[str]  # the known actions the motion matches best, best first
    agrees: bool


class AgreementJudge:
    def __init__(self, model: Evaluator, mean: np.ndarray, std: np.ndarray, actions: np.ndarray,
                 labels: list[str], threshold: float, text_encoder: str = "",
                 calibration: dict | None = None, temperature: float = TEMPERATURE, rule: dict | None = None):
        self.model = model.eval()
        self.mean = np.asarray(mean, np.float32)
        self.std = np.maximum(np.asarray(std, np.float32), STD_FLOOR)
        self.actions = torch.as_tensor(np.asarray(actions, np.float32))  # (A, latent), unit rows
        self.labels = list(labels)
        self.threshold = float(threshold)
        self.text_encoder = text_encoder
        self.calibration = dict(calibration or {})
        self.temperature = float(temperature)
        self.rule = rule  # {"agreement_weight", "threshold"} of ropar_core/warning.py, or None

    # -- file ------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, model_dir: str | Path) -> AgreementJudge | None:
        """The model directory's judge, or None when it has none (older models)."""
        from safetensors import SafetensorError, safe_open

        path = Path(model_dir) / FILE_NAME
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
            what = f"corrupt {path}"
            cfg = EvaluatorConfig.from_dict(limits.parse_json(meta["evaluator"], what, error=ModelError))
            labels = limits.parse_json(meta["labels"], what, error=ModelError)
            calibration = limits.parse_json(meta.get("calibration", "{}"), what, error=ModelError)
            threshold = float(meta["threshold"])
            temperature = float(meta.get("temperature", TEMPERATURE))
            rule = limits.parse_json(meta["rule"], what, error=ModelError) if "rule" in meta else None
            mean, std, actions = tensors.pop("mean"), tensors.pop("std"), tensors.pop("actions")
        except (SafetensorError, OSError, KeyError, ValueError, TypeError) as exc:
            raise ModelError(f"corrupt {path}: {exc}") from None
        if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
            raise ModelError(f"corrupt {path}: the labels are not a list of names")
        if not math.isfinite(threshold) or not -2.0 <= threshold <= 2.0:  # a difference of two cosines
            raise ModelError(f"corrupt {path}: threshold {threshold!r} is not a difference of similarities")
        if not temperature > 0 or not math.isfinite(temperature):
            raise ModelError(f"corrupt {path}: temperature {temperature!r} is not a positive number")
        stats = (cfg.feature_dim,)
        if actions.shape != (len(labels), cfg.latent_dim) or mean.shape != stats or std.shape != stats:
            raise ModelError(f"corrupt {path}: actions {tuple(actions.shape)} for {len(labels)} labels, "
                             f"stats {tuple(mean.shape)}")
        state = {k[len(_PREFIX):]: v for k, v in tensors.items() if k.startswith(_PREFIX)}
        with checkpoint.skip_init():  # every weight is loaded right after: drawing them would only cost time
            model = Evaluator(cfg)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            lines = str(exc).strip().splitlines()  # torch's first line only says "Error(s) in loading"
            detail = (lines[1] if len(lines) > 1 else lines[0]).strip()
            raise ModelError(f"corrupt {path}: {detail}") from None
        calibration = calibration if isinstance(calibration, dict) else {}
        return cls(model, mean.numpy(), std.numpy(), actions.numpy(), labels, threshold,
                   meta.get("text_encoder", ""), calibration, temperature, check_rule(rule, str(path)))

    def save(self, model_dir: str | Path) -> Path:
        """Write the judge into the model directory in one atomic step."""
        path = Path(model_dir) / FILE_NAME
        tensors = {_PREFIX + k: v for k, v in self.model.state_dict().items()}
        tensors.update(mean=torch.from_numpy(self.mean), std=torch.from_numpy(self.std), actions=self.actions)
        meta = {"evaluator": json.dumps(self.model.cfg.to_dict()), "labels": json.dumps(self.labels),
                "threshold": repr(self.threshold), "temperature": repr(self.temperature),
                "text_encoder": self.text_encoder,
                "calibration": json.dumps(self.calibration)}
        if self.rule is not None:
            meta["rule"] = json.dumps(self.rule)
        checkpoint.save_weights(path, tensors, metadata=meta)
        return path

    # -- judging ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def embed_texts(self, text_emb: torch.Tensor) -> torch.Tensor:
        """(B, D) frozen sentence embeddings of the model's text encoder -> (B, latent) unit vectors."""
        return self.model.embed_text(text_emb.float().cpu())

    @torch.no_grad()
    def embed_motions(self, features: list[np.ndarray]) -> torch.Tensor:
        """Un-normalised (T_i, 263) motions -> (B, latent) unit vectors (first max_frames frames each)."""
        x, valid = pad_batch(features, self.mean, self.std, self.model.cfg.max_frames)
        return self.model.embed_motion(x, valid)

    def scores(self, text_emb: torch.Tensor, features: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """-> agreement (B,) and the motions' similarity to every known action (B, A)."""
        per_action = self.embed_motions(features) @ self.actions.T  # (B, A)
        reads_as = torch.softmax(self.embed_texts(text_emb) @ self.actions.T / self.temperature, dim=-1)
        shown = (reads_as * per_action).sum(-1)  # (B,): how well the prompt's actions are shown
        return (shown - per_action.max(-1).values).numpy(), per_action.numpy()

    def judge(self, text_emb: torch.Tensor, features: list[np.ndarray]) -> list[Agreement]:
        """text_emb (B, D) of the prompts, features: the B generated motions -> one Agreement each."""
        score, per_action = self.scores(text_emb, features)
        out = []
        for s, row, f in zip(score, per_action, features):
            order = np.argsort(-row)[:LOOKS_LIKE]
            agrees = bool(s >= self.threshold) or len(f) < MIN_FRAMES
            out.append(Agreement(float(s), [self.labels[i] for i in order], agrees))
        return out


def check_rule(rule, where: str) -> dict | None:
    """The stored warning rule (ropar_core/warning.py) -> {"agreement_weight", "threshold"}, None when
    absent; ModelError when malformed."""
    if rule is None:
        return None
    try:
        w, t = float(rule["agreement_weight"]), float(rule["threshold"])
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"corrupt {where}: the warning rule {str(rule)[:80]} needs agreement_weight and "
                         "threshold") from None
    if not (math.isfinite(w) and math.isfinite(t) and 0.0 <= w <= 10.0 and -5.0 <= t <= 5.0):
        raise ModelError(f"corrupt {where}: the warning rule {str(rule)[:80]} is out of range")
    return {"agreement_weight": w, "threshold": t}


def warning_for(prompt: str, agreement: Agreement) -> str | None:
    """One line for the user when the motion shows something else than the prompt asks for."""
    if agreement.agrees:
        return None
    return (f"the motion for {prompt!r} may not show it (text-motion agreement {agreement.score:+.2f}); "
            f"the motion looks more like: {', '.join(agreement.looks_like)}")


def calibration_line(cal: dict) -> str:
    """A judge's calibration numbers (training/train/build_agreement.py) in one line."""
    try:
        rule = cal["rule"]
        return (f"warning rule: familiarity margin + {rule['agreement_weight']:g} x agreement below "
                f"{rule['threshold']:+.3f}, calibrated with {len(cal['seeds'])} seeds on "
                f"{cal['test_prompts']} test-split captions, {cal['paraphrase_prompts']} known actions in "
                f"other words and {cal['unknown_prompts']} unknown actions: warns on "
                f"{cal['test_warned']:.1%} / {cal['paraphrase_warned']:.1%} / {cal['unknown_warned']:.1%} "
                f"of their motions (familiarity alone {cal['test_warned_familiarity_only']:.1%} / "
                f"{cal['paraphrase_warned_familiarity_only']:.1%} / "
                f"{cal['unknown_warned_familiarity_only']:.1%}); prompts warned by most seeds: "
                f"{cal['test_prompts_warned_majority']:.1%} / "
                f"{cal['paraphrase_prompts_warned_majority']:.1%} / "
                f"{cal['unknown_prompts_warned_majority']:.1%}")
    except (KeyError, TypeError, ValueError):
        pass
    try:  # a judge calibrated before the rule (two separate tests)
        return (f"threshold {cal['threshold']:+.3f}, calibrated with {len(cal['seeds'])} seeds on "
                f"{cal['known_prompts']} known + {cal['unknown_prompts']} unknown held-out prompts: warns on "
                f"{cal['known_warned']:.1%} of known motions (familiarity alone "
                f"{cal['known_warned_familiarity_only']:.1%}) and {cal['unknown_warned']:.1%} of unknown "
                f"ones (familiarity alone {cal['unknown_warned_familiarity_only']:.1%}); prompts warned by "
                f"most seeds: known {cal['known_prompts_warned_majority']:.1%}, "
                f"unknown {cal['unknown_prompts_warned_majority']:.1%}")
    except (KeyError, TypeError, ValueError):
        return "not calibrated"


def action_vectors(embed_texts, captions: dict[str, list[str]]) -> tuple[list[str], np.ndarray]:
    """label -> its captions, and embed_texts(list[str]) -> (N, latent) unit rows: the labels and their
    mean caption vectors (A, latent), unit length."""
    labels = [label for label, texts in captions.items() if texts]
    rows = []
    for label in labels:
        mean = np.asarray(embed_texts(captions[label]), np.float32).mean(0)
        rows.append(mean / max(float(np.linalg.norm(mean)), 1e-8))
    return labels, np.stack(rows).astype(np.float32)
