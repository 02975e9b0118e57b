"""Left/right mirroring of clips: joints, 263 features, part masks and captions together.

A mirrored clip is a new, equally real motion ("waves the left hand" becomes "waves the right hand"),
and training on both halves removes the data's left/right bias (a model trained on Bandai alone lets
straight walks curve one way). The mirror plane is the body's sagittal plane: X -> -X in the
HumanML3D frame (Y up, facing +Z), with every left joint swapped for its right twin.
"""

from __future__ import annotations

import re

import numpy as np

from ropar_core import features
from ropar_core.skeleton import MIRROR, PART_NAMES

PART_MIRROR = [
    PART_NAMES.index(p.replace("left", "@").replace("right", "left").replace("@", "right"))
    for p in PART_NAMES
]  # torso stays, left_arm <-> right_arm, left_leg <-> right_leg
_SWAPS = {
    "left": "right",
    "right": "left",
    "clockwise": "counterclockwise",
    "counterclockwise": "clockwise",
    "anticlockwise": "clockwise",
}
_WORD = re.compile(r"\b(left|right|clockwise|counterclockwise|anticlockwise)\b(?! angle)", re.IGNORECASE)


def mirror_joints(joints: np.ndarray) -> np.ndarray:
    """(T, 22, 3) -> the mirror image: X negated, left and right joints exchanged."""
    out = np.asarray(joints)[:, list(MIRROR)].copy()
    out[..., 0] *= -1.0
    return out


def mirror_features(feats: np.ndarray) -> np.ndarray:
    """(T, 263) -> (T - 1, 263) features of the mirrored motion (through joints: the features' rotations
    and contacts are recomputed exactly as for any imported motion; one frame is lost, as on import)."""
    return features.joints_to_features(mirror_joints(features.features_to_joints(feats)))


def mirror_mask(frame_mask: np.ndarray, length: int | None = None) -> np.ndarray:
    """(T, 5) part credibility -> the mirrored clip's (first `length` frames)."""
    out = np.asarray(frame_mask)[:, PART_MIRROR]
    return out if length is None else out[:length]


def _swap(match: re.Match) -> str:
    word = match.group(0)
    new = _SWAPS[word.lower()]
    return new.capitalize() if word[0].isupper() else new


def mirror_text(text: str) -> str:
    """'waves the left hand, turns right' -> 'waves the right hand, turns left' ('right angles' kept)."""
    return _WORD.sub(_swap, text)
