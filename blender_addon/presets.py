"""Rig presets: which bone of a target armature sits at each SMPL-22 joint, and automatic detection.

A preset is a JSON file (see docs/blender.md, "Rig presets"):
    {"label": ..., "description": ..., "prefix_regex": optional,
     "joints": {"pelvis": ["Hips"], "l_hip": ["LeftUpLeg"], ...}}
Each joint lists candidate bone names, best first; a candidate maps to the bone whose *head* is at that
joint. Names match tolerantly (`names`: case, separators, side markers, namespaces, the rig's common
prefix), after the preset's own prefix pattern. Joints are resolved in file order and a bone is used
once, which lets one preset serve both UE4 (spine_01..03) and UE5 (spine_01..05) spines.

Shipped presets live in the add-on's `presets/` folder; the user's own in `user_presets_dir()` (Blender's
user configuration, or the extension's user data folder), which a reinstall never touches. Both are
read on every lookup that finds a file changed, and auto-detection weighs them alike.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import RigError
from .names import NameIndex
from .smpl22 import JOINT_INDEX, JOINT_NAMES, PARENTS

PRESET_DIR = Path(__file__).resolve().parent / "presets"
USER_DIR_ENV = "ROPAR_USER_PRESETS"  # overrides user_presets_dir() (tests, studio-wide folders)
AUTO = "AUTO"
SHAPE = "shape"  # BoneMap.preset of a map found by shape_map (no preset's names fit)
PANEL = "panel"  # BoneMap.preset of a map taken from the panel's rows

# Without these the body cannot be posed; spine, neck/head and feet are checked separately below.
REQUIRED_JOINTS = (
    "pelvis", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
    "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
)
REQUIRED_ONE_OF = (("spine1", "spine2", "spine3"), ("neck", "head"))


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    description: str
    joints: tuple[tuple[str, tuple[str, ...]], ...]  # (joint name, candidate bone names) in resolve order
    prefix_regex: str | None = None
    user: bool = False

    def candidates(self, joint: str) -> tuple[str, ...]:
        return dict(self.joints).get(joint, ())


@dataclass(frozen=True)
class BoneMap:
    """The result of matching a preset against an armature."""

    preset: str
    joints: dict[int, str]  # SMPL-22 joint index -> bone name
    missing: tuple[str, ...]  # required joints (or "a|b" groups) without a bone
    consistent: int  # mapped (joint, mapped ancestor) pairs that are also ancestor/descendant in the rig
    shortened: int = 0  # joints found only through a bone name with the rig's prefix dropped
    user: bool = False
    confidence: float = 1.0  # mapping by shape: how well the rest pose fits a person (shape_map.py)
    notes: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def rank(self) -> tuple:
        """Detection order: complete, most joints, the user's own, hierarchy fit, exact names."""
        return (self.complete, len(self.joints), self.user, self.consistent, -self.shortened)

    def describe(self) -> str:
        if self.preset == SHAPE:
            return f"by shape ({len(self.joints)}/22, confidence {self.confidence:.2f})"
        if self.preset == PANEL:
            return f"the panel's rows ({len(self.joints)}/22)"
        return f"{self.preset} ({len(self.joints)}/22)"


def user_presets_dir(create: bool = False) -> Path:
    """Where the user's presets live: $ROPAR_USER_PRESETS, else (inside Blender) the extension's user
    folder (Blender 4.2+ extensions) or Blender's user configuration folder `ropar/presets`, else
    ~/.config/ropar/presets. Never inside the add-on, so reinstalling keeps them."""
    if os.environ.get(USER_DIR_ENV):
        path = Path(os.environ[USER_DIR_ENV])
    elif "bpy" in sys.modules:  # inside Blender (never imported here: this module stays numpy-only)
        path = _blender_user_dir()
    else:
        path = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "ropar" / "presets"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def _blender_user_dir() -> Path:
    import bpy

    package = __package__ or ""
    if package.startswith("bl_ext.") and hasattr(bpy.utils, "extension_path_user"):
        return Path(bpy.utils.extension_path_user(package, path="presets", create=False))
    return Path(bpy.utils.user_resource("CONFIG", path=os.path.join("ropar", "presets")))


def _signature(directory: Path) -> tuple:
    if not directory.is_dir():
        return ()
    return tuple((p.name, p.stat().st_mtime_ns) for p in sorted(directory.glob("*.json")))


def load_presets(directory: Path | None = None) -> dict[str, Preset]:
    """Shipped presets plus the user's (a user preset replaces a shipped one of the same name), keyed by
    file stem in a stable order. `directory` reads only that folder. Files are parsed again only when
    the folder's listing or a file's modification time changed."""
    if directory is not None:
        return dict(_read_dir(Path(directory), _signature(Path(directory)), user=False))
    user = user_presets_dir()
    presets = dict(_read_dir(PRESET_DIR, _signature(PRESET_DIR), user=False))
    presets.update(_read_dir(user, _signature(user), user=True))
    if not presets:
        raise RigError(f"no rig presets found in {PRESET_DIR}")
    return presets


@functools.lru_cache(maxsize=16)
def _read_dir(directory: Path, signature: tuple, user: bool) -> tuple[tuple[str, Preset], ...]:
    return tuple((path.stem, _parse_preset(path, user)) for path in sorted(directory.glob("*.json")))


def _parse_preset(path: Path, user: bool = False) -> Preset:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        joints = data["joints"]
        if not isinstance(joints, dict):
            raise TypeError("'joints' must be an object")
        if data.get("prefix_regex"):
            re.compile(data["prefix_regex"])
    except (OSError, ValueError, KeyError, TypeError, re.error) as exc:
        raise RigError(f"rig preset {path} is not valid preset JSON: {exc}") from exc
    unknown = [j for j in joints if j not in JOINT_INDEX]
    if unknown:
        raise RigError(f"rig preset {path.name} names unknown joints {unknown}; use {', '.join(JOINT_NAMES)}")
    pairs = []
    for joint, names in joints.items():
        names = [names] if isinstance(names, str) else names
        if not names or not all(isinstance(n, str) and n for n in names):
            raise RigError(f"rig preset {path.name}: joint {joint!r} needs a list of bone names")
        pairs.append((joint, tuple(names)))
    return Preset(name=path.stem, label=str(data.get("label", path.stem)),
                  description=str(data.get("description", "")), joints=tuple(pairs),
                  prefix_regex=data.get("prefix_regex"), user=user)


def save_user_preset(name: str, joints: dict[str, str], label: str = "", description: str = "") -> Path:
    """Write a preset mapping joint names to one bone each into user_presets_dir() (atomically)."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", name.strip()).strip("_")
    if not stem:
        raise RigError("a preset needs a name (letters, digits, - or _)")
    unknown = [j for j in joints if j not in JOINT_INDEX]
    if unknown:
        raise RigError(f"unknown joints {unknown}; use {', '.join(JOINT_NAMES)}")
    body = {"label": label or name.strip(),
            "description": description or "Saved from the RoPAR mapping panel",
            "joints": {j: [joints[j]] for j in JOINT_NAMES if joints.get(j)}}
    missing = _missing({JOINT_INDEX[j]: b for j, b in joints.items() if b})
    if missing:
        raise RigError(f"preset {stem!r} would lack bones for {', '.join(missing)}")
    path = user_presets_dir(create=True) / f"{stem}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def match(preset: Preset, bone_names: list[str], parents: list[int]) -> BoneMap:
    """Resolve `preset` against an armature's bones (`parents[i]` = index of bone i's parent or -1)."""
    prefix = re.compile(preset.prefix_regex, re.IGNORECASE) if preset.prefix_regex else None
    index = NameIndex(bone_names, prefix)
    used: set[str] = set()
    joints: dict[int, str] = {}
    shortened = 0
    for joint, candidates in preset.joints:
        for cand in candidates:
            found = index.lookup(cand, used)
            if found is not None:
                joints[JOINT_INDEX[joint]] = found[0]
                used.add(found[0])
                shortened += found[1] > 0
                break
    joints = dict(sorted(joints.items()))
    return BoneMap(preset.name, joints, _missing(joints), _consistency(joints, bone_names, parents),
                   shortened, preset.user)


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


def _tried(preset: Preset, missing: tuple[str, ...]) -> str:
    """'l_elbow (tried LeftForeArm, lForearmBend)' for each missing joint or group."""
    parts = []
    for item in missing:
        names = [n for j in item.split("|") for n in preset.candidates(j)]
        parts.append(f"{item} (tried {', '.join(names) or 'no bone listed in the preset'})")
    return "; ".join(parts)


def closest(bone_names: list[str], parents: list[int], presets: dict[str, Preset] | None = None) -> BoneMap:
    """The best-ranked preset match for an armature (`BoneMap.rank`), complete or not."""
    presets = presets or load_presets()
    return max((match(p, bone_names, parents) for p in presets.values()), key=lambda m: m.rank)


def detect(bone_names: list[str], parents: list[int], presets: dict[str, Preset] | None = None) -> BoneMap:
    """The best complete preset for an armature, or a RigError naming the bones it tried."""
    presets = presets or load_presets()
    best = closest(bone_names, parents, presets)
    if not best.complete:
        raise RigError(
            f"no rig preset fits this armature (closest: {best.preset}, missing bones for "
            f"{_tried(presets[best.preset], best.missing)}); pick a preset, map the bones in the panel or "
            f"add a preset to {user_presets_dir()} (docs/blender.md)")
    return best


def validate(joints: dict[int, str], bone_names: list[str], parents: list[int], source: str = "") -> None:
    """A RigError unless the map can drive the body: every bone exists and is used once, the required
    joints are there, and each joint's bone hangs below the bone of its nearest mapped joint up the body
    (so the pelvis is an ancestor of the spine and both legs, and every chain runs in order). A bone
    with no parent at all starts a tree of its own (a Rigify rig exported with only its DEF bones has
    loose thighs and shoulders): it is keyed with a location, so it goes where its joint is."""
    where = f" ({source})" if source else ""
    index = {n: i for i, n in enumerate(bone_names)}
    unknown = sorted({b for b in joints.values() if b not in index})
    if unknown:
        raise RigError(f"the armature has no bones named {', '.join(unknown)}{where}")
    seen: dict[str, int] = {}
    for j, bone in sorted(joints.items()):
        if bone in seen:
            raise RigError(f"bone {bone!r} is mapped to both {JOINT_NAMES[seen[bone]]} and "
                           f"{JOINT_NAMES[j]}{where}; each joint needs its own bone")
        seen[bone] = j
    missing = _missing(joints)
    if missing:
        raise RigError(f"no bone for {', '.join(missing)}{where}: map them in the Bone Mapping panel")
    for j, bone in sorted(joints.items()):
        a = PARENTS[j]
        while a >= 0 and a not in joints:
            a = PARENTS[a]
        if a < 0 or parents[index[bone]] < 0:
            continue
        b = parents[index[bone]]
        while b >= 0 and b != index[joints[a]]:
            b = parents[b]
        if b < 0:
            raise RigError(
                f"{JOINT_NAMES[j]} ({bone}) does not hang below {JOINT_NAMES[a]} ({joints[a]}) in the "
                f"armature's hierarchy{where}: the {JOINT_NAMES[a]} bone must be an ancestor of it, or the "
                "body would be torn apart; pick another bone in the Bone Mapping panel")


def from_rows(rows: dict[str, str], bone_names: list[str], parents: list[int]) -> BoneMap:
    """The bone map the panel's rows spell (joint name -> bone name, empty rows skipped), validated."""
    joints = {JOINT_INDEX[j]: b for j, b in rows.items() if b and j in JOINT_INDEX}
    validate(joints, bone_names, parents, "the panel's rows")
    return BoneMap(PANEL, dict(sorted(joints.items())), (), _consistency(joints, bone_names, parents))


@dataclass(frozen=True)
class RestShape:
    """What mapping by shape reads besides names: rest heads and tails (B, 3) and the world's up and
    front (-Y) in armature space (rig.rest_shape builds it)."""

    heads: tuple
    tails: tuple
    up: tuple
    front: tuple


def by_shape(bone_names: list[str], parents: list[int], shape: RestShape,
             min_confidence: float | None = None) -> BoneMap:
    """The map by shape (shape_map.py), validated; a RigError below `min_confidence` (default: what
    Auto-detect accepts, shape_map.MIN_CONFIDENCE) says why it is unsure."""
    from .shape_map import MIN_CONFIDENCE, map_by_shape

    try:
        found = map_by_shape(bone_names, parents, np.array(shape.heads), np.array(shape.tails),
                             np.array(shape.up), np.array(shape.front))
    except (ValueError, IndexError, ZeroDivisionError) as exc:  # a skeleton unlike any tried: say so
        raise RigError(f"this skeleton's shape could not be read as a body ({type(exc).__name__}: "
                       f"{exc}); map the bones in the Bone Mapping panel") from None
    joints = {j: b for j, b in found.joints.items()}
    validate(joints, bone_names, parents, "mapped by shape")
    floor = MIN_CONFIDENCE if min_confidence is None else min_confidence
    if found.confidence < floor:
        raise RigError(f"the map by shape is unsure (confidence {found.confidence:.2f}: "
                       f"{'; '.join(found.notes)}); check its rows in the Bone Mapping panel")
    return BoneMap(SHAPE, joints, (), _consistency(joints, bone_names, parents), confidence=found.confidence,
                   notes=found.notes)


def bone_map_for(bone_names: list[str], parents: list[int], preset: str = AUTO,
                 armature: str = "armature", shape: RestShape | None = None) -> BoneMap:
    """The bone map for `preset` (or detected with AUTO); a clear RigError names any missing bone. With
    AUTO and the rig's `shape`, a rig no preset fits (or whose best preset's map would tear the body
    apart) is mapped by shape."""
    presets = load_presets()
    key = tuple((name, p) for name, p in presets.items())
    return _bone_map_cached(tuple(bone_names), tuple(parents), preset, armature, key, shape)


@functools.lru_cache(maxsize=64)  # the same rig is matched on every generation
def _bone_map_cached(bone_names: tuple[str, ...], parents: tuple[int, ...], preset: str,
                     armature: str, presets_key: tuple, shape: RestShape | None) -> BoneMap:
    bone_names, parents = list(bone_names), list(parents)
    presets = dict(presets_key)
    if preset == AUTO:
        try:
            found = detect(bone_names, parents, presets)
            validate(found.joints, bone_names, parents, f"rig preset {found.preset!r}")
            return found
        except RigError as by_name:
            if shape is None:
                raise
            try:
                return by_shape(bone_names, parents, shape)
            except RigError as by_body:
                raise RigError(f"{by_name}; mapping by shape failed too: {by_body}") from None
    if preset not in presets:
        raise RigError(f"unknown rig preset {preset!r}; choose AUTO or one of: {', '.join(presets)}")
    bmap = match(presets[preset], bone_names, parents)
    if not bmap.complete:
        raise RigError(f"armature {armature!r} lacks bones that rig preset {preset!r} needs: "
                       f"{_tried(presets[preset], bmap.missing)}")
    validate(bmap.joints, bone_names, parents, f"rig preset {preset!r}")
    return bmap
