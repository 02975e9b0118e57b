"""Settings: the generation properties (defined once, shared by the panel's PropertyGroup `scene.ropar`
and the Generate operator), the panel's own extras, and the add-on preferences (where motions come
from)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from . import mapping, presets, rig
from .backend import DEFAULT_URL, SHIPPED_MODELS, find_python
from .smpl22 import PART_NAMES

_PRESET_ITEMS: list[tuple[str, str, str]] = []  # Blender keeps only pointers: the strings must live here


def preset_items(self=None, context=None) -> list[tuple[str, str, str]]:
    """Auto-detect, then every shipped and user preset (read again when a preset file changed)."""
    items = [(presets.AUTO, "Auto-detect", "Pick the preset whose bone names (and hierarchy) fit best")]
    try:
        for name, p in presets.load_presets().items():
            items.append((name, p.label + (" (yours)" if p.user else ""), p.description))
    except Exception as exc:  # a broken preset file must not stop the add-on from drawing
        print(f"RoPAR: cannot read rig presets: {exc}")
    _PRESET_ITEMS[:] = items
    return _PRESET_ITEMS


PART_ITEMS = [(p, p.replace("_", " ").title(), f"Keep the {p.replace('_', ' ')} of the current motion")
              for p in PART_NAMES]


def _is_armature(self, obj) -> bool:
    return obj.type == "ARMATURE"


def _armature_of(owner):
    arm = getattr(owner, "armature", None)
    return bpy.data.objects.get(arm) if isinstance(arm, str) else arm


def _update_detected(self, context) -> None:
    # Runs when the user picks an armature or preset (not in draw): names the preset AUTO would use and
    # fills the mapping panel from it.
    if not hasattr(self, "detected"):
        return  # the operator's copy of the property: nothing to show
    arm = _armature_of(self)
    self.detected = rig.detect_label(arm) if arm is not None else ""
    if arm is not None and arm.type == "ARMATURE":
        mapping.fill(self, arm, self.preset)


class GenerationProperties:
    """What a generation takes, defined once: the panel's settings (`scene.ropar`) and the Generate
    operator both inherit these annotations (an operator property the caller leaves unset takes the
    panel's value)."""

    prompt: StringProperty(
        name="Prompt", default="a person walks forward",
        description="What the motion should show, e.g. 'a person waves with the left hand, then walks "
                    "forward'")
    seconds: FloatProperty(
        name="Seconds", default=4.0, min=0.2, max=120.0, soft_min=1.0, soft_max=12.0, step=50, precision=1,
        description="Length of the generated motion")
    seed: IntProperty(
        name="Seed", default=0, min=0, soft_max=9999,
        description="Random seed: the same prompt and seed give the same motion")
    path: StringProperty(
        name="Path", default="",
        description="A curve object the character walks along in world space (it is moved to the "
                    "curve's start); the curve's length and Seconds set the pace. Empty: no path")
    override_sampling: BoolProperty(
        name="Custom Sampling", default=False,
        description="Use the guidance and steps below instead of the model's defaults")
    cfg: FloatProperty(
        name="Guidance", default=4.0, min=0.0, max=20.0, soft_min=1.0, soft_max=8.0, step=10,
        description="Classifier-free guidance scale: higher follows the prompt more closely, lower is "
                    "more varied (used with Custom Sampling)")
    steps: IntProperty(
        name="Steps", default=12, min=1, max=100, soft_min=4, soft_max=32,
        description="Iterative unmasking steps: more is slower and slightly more detailed (used with "
                    "Custom Sampling)")
    preset: EnumProperty(
        name="Rig Preset", items=preset_items, update=_update_detected,
        description="Which bone sits at which body joint; Auto-detect reads the bone names")
    foot_lock: BoolProperty(
        name="Foot Lock", default=True,
        description="Hold feet still while they touch the ground (removes sliding caused by other leg "
                    "proportions)")
    in_place: BoolProperty(
        name="In Place", default=False,
        description="Keep the hips' horizontal travel out of the action: the body walks on the spot "
                    "(game engines, treadmill loops)")
    root_motion: BoolProperty(
        name="Root Motion", default=False,
        description="With In Place: put the travel on the rig's root bone (an ancestor of the hips near "
                    "the floor, like Unreal's root) instead of dropping it")
    controls: EnumProperty(
        name="Controls", default="FK",
        items=[("FK", "FK", "Key the control rig's FK controls (and switch its limbs to FK)"),
               ("IK", "IK", "Key its IK controls: hand and foot targets and elbow and knee poles (and "
                            "switch its limbs to IK)")],
        description="On a generated control rig (Rigify): which controls get the keys")
    loop: BoolProperty(
        name="Loop", default=False,
        description="Blend the end of the motion into its start so the action cycles seamlessly")
    candidates: IntProperty(
        name="Candidates", default=1, min=1, max=8,
        description="Generate this many motions (seeds seed, seed+1, ...); the first becomes the active "
                    "action, the others are kept to flip through in the Action editor")


class RoparSettings(GenerationProperties, bpy.types.PropertyGroup):
    armature: PointerProperty(
        name="Armature", type=bpy.types.Object, poll=_is_armature, update=_update_detected,
        description="The armature that receives the motion as a new Action")
    detected: StringProperty(
        name="Detected", default="", description="The preset Auto-detect picks for this armature")
    keep_parts: EnumProperty(
        name="Keep Parts", items=PART_ITEMS, options={"ENUM_FLAG"}, default=set(),
        description="Edit the armature's current motion: keep these parts, regenerate the rest from the "
                    "prompt")
    continue_current: BoolProperty(
        name="Continue from Current Frame", default=False,
        description="Generate from the current frame on, starting from the pose (and motion) the rig has "
                    "there, and add the keys to its current action (the keys before stay)")
    use_nla: BoolProperty(
        name="Add as NLA Strip", default=False,
        description="Put the new action on its own NLA track; the current action is pushed down to a "
                    "strip too, so both play")
    mapping: CollectionProperty(type=mapping.JointBone, name="Bone Mapping",
                                description="The bone at each SMPL-22 joint (Save as Preset)")
    mapping_rig: StringProperty(name="Mapped Rig", default="",
                                description="The armature the Bone Mapping rows were filled for")
    preset_name: StringProperty(name="Preset Name", default="my_rig",
                                description="File name of the preset Save as Preset writes")


BACKEND_ITEMS = [
    ("SERVER_PROCESS", "Start Server Process",
     "Start `ropar serve` with the Python below (empty: the one the add-on was built with, else the "
     "one behind a `ropar` command on PATH)"),
    ("URL", "Server URL", "Talk to a running `ropar serve` at the URL below"),
    ("IN_PROCESS", "In Blender", "Import ropar_core in Blender's own Python (needs torch installed there)"),
    ("FAKE", "Procedural Test Motion", "No model: a procedural walk, for trying the add-on and rigs"),
]
DEVICE_ITEMS = [("auto", "Auto", "CUDA when available, else CPU"), ("cpu", "CPU", "Always the CPU"),
                ("cuda", "CUDA", "An NVIDIA GPU")]


MODEL_ITEMS = [(name, label, text) for name, (label, text) in SHIPPED_MODELS.items()]
PREFERENCE_NAMES = ("backend", "url", "python", "model", "model_dir", "device")


def preferences_file() -> Path:
    """Where the preferences are kept besides Blender's own store: next to the user's rig presets, a
    folder a reinstall of the add-on never touches (Blender drops an add-on's preferences with it)."""
    return presets.user_presets_dir().parent / "preferences.json"


def _store_preferences(self, context) -> None:
    if _LOADING:
        return
    path = preferences_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps({n: getattr(self, n) for n in PREFERENCE_NAMES}, indent=2) + "\n",
                       encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home must not break the preferences screen
        print(f"RoPAR: cannot keep the preferences in {path}: {exc}")


_LOADING = False


def restore_preferences(prefs) -> None:
    """Set the add-on's preferences from preferences_file() (after a reinstall); unknown values are
    skipped with a note."""
    global _LOADING
    try:
        stored = json.loads(preferences_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    _LOADING = True
    try:
        for name in PREFERENCE_NAMES:
            if isinstance(stored, dict) and isinstance(stored.get(name), str):
                try:
                    setattr(prefs, name, stored[name])
                except (TypeError, ValueError) as exc:
                    print(f"RoPAR: ignoring the stored preference {name}={stored[name]!r}: {exc}")
    finally:
        _LOADING = False


class RoparPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    backend: EnumProperty(name="Backend", items=BACKEND_ITEMS, default="SERVER_PROCESS",
                          description="Where motions are generated", update=_store_preferences)
    url: StringProperty(name="Server URL", default=DEFAULT_URL, description="Address of `ropar serve`",
                        update=_store_preferences)
    python: StringProperty(name="Python", subtype="FILE_PATH", default="", update=_store_preferences,
                           description="Interpreter with torch and ropar installed, used to start "
                                       "`ropar serve` (empty: the one the add-on was built with, else the "
                                       "one behind a `ropar` command on PATH)")
    model: EnumProperty(name="Model", items=MODEL_ITEMS, default="default", update=_store_preferences,
                        description="Which shipped model generates (a Model Directory below overrides it)")
    model_dir: StringProperty(name="Model Directory", subtype="DIR_PATH", default="",
                              description="A model you trained or learned from video (empty: the shipped "
                                          "model above)",
                              update=_store_preferences)
    device: EnumProperty(name="Device", items=DEVICE_ITEMS, default="auto", update=_store_preferences,
                         description="Where the model runs (server process and in-process backends)")

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "backend")
        col = layout.column()
        col.active = self.backend == "URL"
        col.prop(self, "url")
        col = layout.column()
        col.active = self.backend in ("SERVER_PROCESS", "IN_PROCESS")
        col.prop(self, "python")
        if self.backend == "SERVER_PROCESS" and not self.python:
            found = find_python()
            col.label(text=f"Using {found}" if found else "No Python with ropar found: set one above",
                      icon="INFO" if found else "ERROR")
        sub = col.column()
        sub.active = not self.model_dir
        sub.prop(self, "model")
        col.prop(self, "model_dir")
        col.prop(self, "device")


class _DefaultPreferences:
    """Used when the add-on is registered without being enabled as an add-on (tests, scripts)."""

    backend, url, python, model, model_dir, device = "SERVER_PROCESS", DEFAULT_URL, "", "default", "", "auto"


def model_choice(prefs) -> str:
    """What the backend loads: the Model Directory when set, else the shipped model's name ("" for the
    default, which needs no --model)."""
    if prefs.model_dir:
        return bpy.path.abspath(prefs.model_dir)
    return "" if prefs.model == "default" else prefs.model


def preferences(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon is not None else _DefaultPreferences()


CLASSES = (mapping.JointBone, RoparSettings, RoparPreferences)


def register_settings() -> None:
    bpy.types.Scene.ropar = PointerProperty(type=RoparSettings)
    addon = bpy.context.preferences.addons.get(__package__)
    if addon is not None:
        restore_preferences(addon.preferences)


def unregister_settings() -> None:
    del bpy.types.Scene.ropar
