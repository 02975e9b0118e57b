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

from .errors import RigError
from .names import NameIndex
from .smpl22 import JOINT_INDEX, JOINT_NAMES, PARENTS

PRESET_DIR = Path(__file__).resolve().parent / "presets"
USER_DIR_ENV = "ROPAR_USER_PRESETS"  # overrides user_presets_dir() (tests, studio-wide folders)
AUTO = "AUTO"

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

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def rank(self) -> tuple:
        """Detection order: complete, most joints, the user's own, hierarchy fit, exact names."""
        return (self.complete, len(self.joints), self.user, self.consistent, -self.shortened)

    def describe(self) -> str:
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


def bone_map_for(bone_names: list[str], parents: list[int], preset: str = AUTO,
                 armature: str = "armature") -> BoneMap:
    """The bone map for `preset` (or detected with AUTO); a clear RigError names any missing bone."""
    presets = load_presets()
    key = tuple((name, p) for name, p in presets.items())
    return _bone_map_cached(tuple(bone_names), tuple(parents), preset, armature, key)


@functools.lru_cache(maxsize=64)  # the same rig is matched on every generation
def _bone_map_cached(bone_names: tuple[str, ...], parents: tuple[int, ...], preset: str,
                     armature: str, presets_key: tuple) -> BoneMap:
    bone_names, parents = list(bone_names), list(parents)
    presets = dict(presets_key)
    if preset == AUTO:
        return detect(bone_names, parents, presets)
    if preset not in presets:
        raise RigError(f"unknown rig preset {preset!r}; choose AUTO or one of: {', '.join(presets)}")
    bmap = match(presets[preset], bone_names, parents)
    if not bmap.complete:
        raise RigError(f"armature {armature!r} lacks bones that rig preset {preset!r} needs: "
                       f"{_tried(presets[preset], bmap.missing)}")
    return bmap
