"""The bone-mapping panel's data and operators: 22 joint rows, each with a bone picker filled from
auto-detection (or the chosen preset), and Save as Preset, which writes the rows as a user preset
(`presets.user_presets_dir()`) that auto-detection then finds like a shipped one."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from . import presets, rig
from .errors import RigError
from .smpl22 import JOINT_INDEX, JOINT_NAMES


class JointBone(bpy.types.PropertyGroup):
    joint: StringProperty(name="Joint", description="SMPL-22 joint")
    bone: StringProperty(name="Bone", description="The armature's bone whose head sits at this joint")


def fill(settings, obj, preset: str = presets.AUTO) -> presets.BoneMap:
    """Refill `settings.mapping` (22 rows) from `preset`, or from the closest preset when it is AUTO or
    does not fit; rows without a bone stay empty for the user to pick."""
    names, parents = rig.names_and_parents(obj)
    found = None
    if preset != presets.AUTO:
        try:
            found = presets.match(presets.load_presets()[preset], names, parents)
        except KeyError:
            found = None
    if found is None:
        found = presets.closest(names, parents)
    settings.mapping.clear()
    for j, joint in enumerate(JOINT_NAMES):
        row = settings.mapping.add()
        row.joint, row.bone = joint, found.joints.get(j, "")
    return found


def rows(settings) -> dict[str, str]:
    return {row.joint: row.bone for row in settings.mapping if row.joint in JOINT_INDEX}


class ROPAR_OT_fill_mapping(bpy.types.Operator):
    """Fill the bone mapping from auto-detection (or the chosen preset)"""

    bl_idname = "ropar.fill_mapping"
    bl_label = "Detect Bones"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        arm = context.scene.ropar.armature
        return arm is not None and arm.type == "ARMATURE"

    def execute(self, context):
        s = context.scene.ropar
        found = fill(s, s.armature, s.preset)
        self.report({"INFO"}, f"RoPAR: bones from {found.describe()}")
        return {"FINISHED"}


class ROPAR_OT_save_preset(bpy.types.Operator):
    """Save the bone mapping as a rig preset in your user folder (kept across add-on reinstalls) and
    use it for this armature"""

    bl_idname = "ropar.save_preset"
    bl_label = "Save as Preset"

    name: StringProperty(name="Name", description="Preset file name (default: the panel's Preset Name)")

    def execute(self, context):
        s = context.scene.ropar
        name = self.name if self.properties.is_property_set("name") else s.preset_name
        arm = s.armature
        bones = {b.name for b in arm.data.bones} if arm is not None and arm.type == "ARMATURE" else set()
        chosen = rows(s)
        unknown = sorted(b for b in chosen.values() if b and bones and b not in bones)
        try:
            if unknown:
                raise RigError(f"the armature has no bones named {', '.join(unknown)}")
            path = presets.save_user_preset(name, chosen)
        except RigError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        s.preset = path.stem
        self.report({"INFO"}, f"RoPAR: saved rig preset {path}")
        return {"FINISHED"}


CLASSES = (ROPAR_OT_fill_mapping, ROPAR_OT_save_preset)
