"""Rig presets: which bone of a target armature sits at each SMPL-22 joint, and automatic detection.

A preset is a JSON file in `presets/` (see docs/blender.md, "Adding a rig preset"):
    {"label": ..., "description": ..., "prefix_regex": optional,
     "joints": {"pelvis": ["Hips"], "l_hip": ["LeftUpLeg"], ...}}
Each joint lists candidate bone names, best first; a candidate maps to the bone whose *head* is at that
joint. Names match case-insensitively after dropping an FBX-style namespace ("mixamorig:", "rig1:") and
the preset's own prefix pattern. Joints are resolved in file order and a bone is used once, which lets
one preset serve both UE4 (spine_01..03) and UE5 (spine_01..05) spines.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import RigError
from .smpl22 import JOINT_INDEX, JOINT_NAMES, PARENTS

PRESET_DIR = Path(__file__).resolve().parent / "presets"
AUTO = "AUTO"

# Without these the body cannot be posed; spine, neck/head and feet are checked separately below.
REQUIRED_JOINTS = (
    "pelvis", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
    "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
)
REQUIRED_ONE_OF = (("spine1", "spine2", "spine3"), ("neck", "head"))
_NAMESPACE = re.compile(r"^.*:")


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    description: str
    joints: tuple[tuple[str, tuple[str, ...]], ...]  # (joint name, candidate bone names) in resolve order
    prefix_regex: str | None = None


@dataclass(frozen=True)
class BoneMap:
    """The result of matching a preset against an armature."""

    preset: str
    joints: dict[int, str]  # SMPL-22 joint index -> bone name
    missing: tuple[str, ...]  # required joints (or "a|b" groups) without a bone
    consistent: int  # mapped (joint, mapped ancestor) pairs that are also ancestor/descendant in the rig

    @property
    def complete(self) -> bool:
        return not self.missing

    def describe(self) -> str:
        return f"{self.preset} ({len(self.joints)}/22)"


@functools.lru_cache(maxsize=8)
def load_presets(directory: Path = PRESET_DIR) -> dict[str, Preset]:
    """All presets in `directory`, keyed by file stem, in a stable (sorted) order (read once; a new
    preset file needs an add-on reload, or `load_presets.cache_clear()`)."""
    presets = {}
    for path in sorted(Path(directory).glob("*.json")):
        presets[path.stem] = _parse_preset(path)
    if not presets:
        raise RigError(f"no rig presets found in {directory}")
    return presets


def _parse_preset(path: Path) -> Preset:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        joints = data["joints"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RigError(f"rig preset {path.name} is not valid preset JSON: {exc}") from exc
    unknown = [j for j in joints if j not in JOINT_INDEX]
    if unknown:
        raise RigError(f"rig preset {path.name} names unknown joints {unknown}; use {', '.join(JOINT_NAMES)}")
    pairs = []
    for joint, names in joints.items():
        names = [names] if isinstance(names, str) else names
        if not names or not all(isinstance(n, str) and n for n in names):
            raise RigError(f"rig preset {path.name}: joint {joint!r} needs a list of bone names")
        pairs.append((joint, tuple(names)))
    return Preset(
        name=path.stem,
        label=str(data.get("label", path.stem)),
        description=str(data.get("description", "")),
        joints=tuple(pairs),
        prefix_regex=data.get("prefix_regex"),
    )


def match(preset: Preset, bone_names: list[str], parents: list[int]) -> BoneMap:
    """Resolve `preset` against an armature's bones (`parents[i]` = index of bone i's parent or -1)."""
    prefix = re.compile(preset.prefix_regex, re.IGNORECASE) if preset.prefix_regex else None
    by_key: dict[str, str] = {}
    for name in bone_names:
        key = _NAMESPACE.sub("", name)
        if prefix is not None:
            key = prefix.sub("", key)
        by_key.setdefault(key.lower(), name)
    used: set[str] = set()
    joints: dict[int, str] = {}
    for joint, candidates in preset.joints:
        for cand in candidates:
            bone = by_key.get(cand.lower())
            if bone is not None and bone not in used:
                joints[JOINT_INDEX[joint]] = bone
                used.add(bone)
                break
    joints = dict(sorted(joints.items()))
    return BoneMap(preset.name, joints, _missing(joints), _consistency(joints, bone_names, parents))


def _missing(joints: dict[int, str]) -> tuple[str, ...]:
    missing = [j for j in REQUIRED_JOINTS if JOINT_INDEX[j] not in joints]
    for group in REQUIRED_ONE_OF:
        if not any(JOINT_INDEX[j] in joints for j in group):
            missing.append("|".join(group))
    return tuple(missing)


def _consistency(joints: dict[int, str], bone_names: list[str], parents: list[int]) -> int:
    """Hierarchy tie-breaker: how many mapped joints have their nearest mapped SMPL ancestor's bone
    among their rig ancestors (a right-named but wrongly parented bone scores lower)."""
    index = {n: i for i, n in enumerate(bone_names)}
    score = 0
    for j, bone in joints.items():
        a = PARENTS[j]
        while a >= 0 and a not in joints:
            a = PARENTS[a]
        if a < 0:
            continue
        target, b = index[joints[a]], parents[index[bone]]
        while b >= 0 and b != target:
            b = parents[b]
        score += int(b == target)
    return score


def detect(bone_names: list[str], parents: list[int], presets: dict[str, Preset] | None = None) -> BoneMap:
    """The best preset for an armature: complete maps first, then most joints, then hierarchy fit."""
    presets = presets or load_presets()
    maps = [match(p, bone_names, parents) for p in presets.values()]
    best = max(maps, key=lambda m: (m.complete, len(m.joints), m.consistent))
    if not best.complete:
        raise RigError(
            f"no rig preset fits this armature (closest: {best.preset}, "
            f"missing bones for {', '.join(best.missing)}); pick a preset or add one (docs/blender.md)"
        )
    return best


def bone_map_for(bone_names: list[str], parents: list[int], preset: str = AUTO,
                 armature: str = "armature") -> BoneMap:
    """The bone map for `preset` (or detected with AUTO); a clear RigError names any missing bone."""
    return _bone_map_cached(tuple(bone_names), tuple(parents), preset, armature)


@functools.lru_cache(maxsize=64)  # the same rig is matched on every generation
def _bone_map_cached(bone_names: tuple[str, ...], parents: tuple[int, ...], preset: str,
                     armature: str) -> BoneMap:
    bone_names, parents = list(bone_names), list(parents)
    presets = load_presets()
    if preset == AUTO:
        return detect(bone_names, parents, presets)
    if preset not in presets:
        raise RigError(f"unknown rig preset {preset!r}; choose AUTO or one of: {', '.join(presets)}")
    bmap = match(presets[preset], bone_names, parents)
    if not bmap.complete:
        wanted = dict(presets[preset].joints)
        details = []
        for joint in bmap.missing:
            names = [n for j in joint.split("|") for n in wanted.get(j, ())]
            details.append(f"{joint} ({' or '.join(names) or 'no bone listed in the preset'})")
        raise RigError(
            f"armature {armature!r} lacks bones that rig preset {preset!r} needs: {'; '.join(details)}"
        )
    return bmap
