"""Tolerant bone-name keys: one rig's `mixamorig:LeftUpLeg`, another's `upper_leg.L`, `Bip001 L Thigh`
or `lShldrBend` reduced to (side, core words) so presets match whatever spelling an exporter chose.

A name is split into words at separators, case changes and digit runs ("lShldrBend" -> l, shldr, bend;
"spine_01" -> spine, 1). A word "l"/"left" or "r"/"right" anywhere is the side marker; numbers lose
leading zeros (Bip01 = Bip001, spine_01 = Spine1, and Rigify's spine.001); an FBX namespace
(anything up to the last ':') is dropped. A bone also answers to its name without the
leading words most of its rig's bones share (CC_Base_, Bip001, DEF-), but a preset candidate never
drops words: it is a full name, matched exactly before any shortened bone name.
"""

from __future__ import annotations

import re

MAX_PREFIX_WORDS = 3
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SIDES = {"l": "L", "left": "L", "r": "R", "right": "R"}


def words(name: str) -> tuple[str | None, list[str]]:
    """(side or None, lower-case words without the side marker)."""
    name = name.rsplit(":", 1)[-1]
    side, out = None, []
    for w in _WORDS.findall(name):
        low = w.lower()
        if low in _SIDES and side is None:
            side = _SIDES[low]
        elif low.isdigit():
            out.append(str(int(low)))
        else:
            out.append(low)
    return side, out


def key(name: str) -> tuple[str | None, str]:
    """The exact key of a name (what a preset candidate must equal)."""
    side, ws = words(name)
    return side, "".join(ws)


def common_prefix(word_lists: list[list[str]], share: float = 0.4) -> list[str]:
    """Leading words most bones of a rig share (cc, base / bip, 1 / j, bip): up to MAX_PREFIX_WORDS,
    each on at least `share` of the bones and never a bone's last word."""
    prefix: list[str] = []
    for i in range(MAX_PREFIX_WORDS):
        counts: dict[str, int] = {}
        for ws in word_lists:
            if len(ws) > i + 1 and ws[:i] == prefix:
                counts[ws[i]] = counts.get(ws[i], 0) + 1
        if not counts:
            break
        word, n = max(counts.items(), key=lambda kv: kv[1])
        if n < share * len(word_lists):
            break
        prefix.append(word)
    return prefix


class NameIndex:
    """Bone names of one armature, looked up by a candidate name. A bone answers to its full key, and,
    when its name starts with the rig's common prefix words, to the key without them. `lookup` returns
    (bone, prefix words dropped) or None; exact keys win over shortened ones."""

    def __init__(self, bone_names: list[str], prefix: re.Pattern | None = None):
        split = [words(prefix.sub("", n) if prefix is not None else n) for n in bone_names]
        common = common_prefix([ws for _, ws in split])
        self.by_key: dict[tuple[str | None, str], tuple[str, int]] = {}
        for name, (side, ws) in zip(bone_names, split):
            self.by_key.setdefault((side, "".join(ws)), (name, 0))
        for name, (side, ws) in zip(bone_names, split):
            n = 0
            while n < len(common) and n < len(ws) - 1 and ws[n] == common[n]:
                n += 1
            if n:
                self.by_key.setdefault((side, "".join(ws[n:])), (name, n))

    def lookup(self, candidate: str, used: set[str]) -> tuple[str, int] | None:
        found = self.by_key.get(key(candidate))
        return found if found is not None and found[0] not in used else None
