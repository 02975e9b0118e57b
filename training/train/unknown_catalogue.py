"""Unknown actions from a catalogue: everyday actions a model was never trained on, taken from an
independent, large collection of human-motion descriptions, to stand beside the calibration file's
hand-written unknown actions in knowledge.safetensors (ropar_core/knowledge.py: the familiarity margin).

The default catalogue is the KIT Motion-Language dataset's captions (Plappert et al. 2016; MIT, as
redistributed with TMR; ../shared/datasets/kitml-captions.json): 12,164 captions of 2,883 motions and
their mirrors, a JSON list of {"id": "<motion>_<annotation>", "text", "seconds"} (a mirror's id starts
with "M"). Many describe actions the model knows (walking, waving, kicking ...): those must not become
unknown actions, or their paraphrases are warned.
A catalogue motion is one the model knows, and none of its captions enters, when

  - one of its captions names one of the model's action labels: every word of the label but the side
    words (`SIDE_WORDS`), in any inflection ("walks" for "walk", "waving" for "wave right hand"), or
  - one of its captions is as familiar (knowledge.py: the nearest known action's mean similarity over
    its top_k training captions) as the held-out paraphrases of known actions are, all but the share
    the warning may flag (`paraphrase_cut`: build_knowledge's --max-false, 5 %): a catalogue caption
    that near the training captions could be a paraphrase of a known action, and must not be stored as
    an unknown one.

Judging the motion, not each caption, drops the oddly worded captions of a known action too ("performing
a 90 degree curve to the left" beside "walks a quarter circle to the left"). The captions of the other
motions, their action phrases each once, are the catalogue's unknown actions (a few of them, like "plays
the violin", also describe a motion judged known by its other caption: written for a motion the model
does not know, they stay).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ropar_core import limits
from ropar_core.errors import RoparError
from ropar_core.knowledge import Knowledge, action_phrase

DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "kitml-captions.json"
# Label words that say which side or limb, not which action ("wave right hand" is any wave).
SIDE_WORDS = frozenset({"left", "right", "both", "hand", "hands"})
_BATCH = 256
# A crowd-sourced catalogue holds a little spam (links, markup): never shown to a user as an action.
_NOT_A_DESCRIPTION = re.compile(r"https?:|www\.|<|>|\.com\b")


def stem(word: str) -> str:
    """A crude English stem, enough to match a label's verb in a caption: walks/walking/walked -> walk,
    running -> run, dance/dancing -> danc."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[:-len(suffix)]
            break
    if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "lsz":  # running -> runn -> run
        word = word[:-1]
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def stems(text: str) -> set[str]:
    return {stem(w) for w in re.findall(r"[a-z]+", text.lower())}


def label_words(labels: list[str]) -> list[set[str]]:
    """Per action label the stems a caption must hold to name it."""
    out = []
    for label in labels:
        words = [w for w in label.lower().split() if w not in SIDE_WORDS] or label.lower().split()
        out.append({stem(w) for w in words})
    return out


def names_a_label(text: str, words: list[set[str]]) -> bool:
    have = stems(text)
    return any(w <= have for w in words)


def motion_id(caption_id: str) -> str:
    """'00594_2' and its mirror's 'M00594_0' -> '00594': one motion, whose captions all describe it."""
    return caption_id.rsplit("_", 1)[0].removeprefix("M")


def read(path: str | Path) -> dict[str, list[str]]:
    """The catalogue file -> motion id -> its captions' action phrases (lower case, no final full stop)."""
    what = f"unknown-action catalogue {Path(path).name}"
    items = limits.read_json_file(path, what, error=RoparError)
    if not isinstance(items, list) or not items:
        raise RoparError(f"{what}: expected a non-empty JSON list of {{id, text}} captions")
    motions: dict[str, list[str]] = {}
    for i, item in enumerate(items):
        if not (isinstance(item, dict) and isinstance(item.get("id"), str)
                and isinstance(item.get("text"), str)):
            raise RoparError(f"{what}: entry {i} is not an object with a string id and text")
        phrase = action_phrase(" ".join(item["text"].lower().split()).rstrip(" ."))
        if phrase and not _NOT_A_DESCRIPTION.search(phrase):
            motions.setdefault(motion_id(item["id"]), []).append(phrase)
    return motions


def paraphrase_cut(knowledge: Knowledge, encoder, paraphrases: list[str], share: float) -> float:
    """The familiarity that all but `share` of these held-out paraphrases of known actions reach."""
    emb = encoder.encode([action_phrase(t) for t in paraphrases])
    return float(np.quantile(knowledge.action_scores(emb).max(1), share))


def select(path: str | Path, knowledge: Knowledge, encoder,
           cut: float) -> tuple[list[str], np.ndarray, dict]:
    """The catalogue's captions of actions the model does not know -> (their action phrases, each once,
    their embeddings (N, D), a summary for the calibration record)."""
    import torch
    from tqdm import tqdm

    motions = read(path)
    words = label_words(knowledge.labels)
    named = {m for m, texts in motions.items() if any(names_a_label(t, words) for t in texts)}
    phrases = sorted({t for m, texts in motions.items() if m not in named for t in texts})
    emb = np.zeros((len(phrases), knowledge.embeddings.shape[1]), np.float32)
    for i in tqdm(range(0, len(phrases), _BATCH), desc="catalogue captions", unit="batch"):
        emb[i:i + _BATCH] = encoder.encode(phrases[i:i + _BATCH]).float().cpu().numpy()
    familiarity = knowledge.action_scores(torch.from_numpy(emb)).max(1, initial=-1.0)
    familiar = dict(zip(phrases, familiarity))
    known = named | {m for m, texts in motions.items()
                     if m not in named and max(familiar[t] for t in texts) >= cut}
    keep = sorted({t for m, texts in motions.items() if m not in known for t in texts})
    row = {t: i for i, t in enumerate(phrases)}
    rows = np.array([row[t] for t in keep], dtype=np.int64)
    summary = {"file": Path(path).name, "motions": len(motions), "motions_known_by_label": len(named),
               "motions_known_by_familiarity": len(known) - len(named), "cut": cut, "actions": len(keep)}
    return keep, emb[rows], summary
