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
    """Refill `settings.mapping` (22 rows) for `obj` from `preset`; with AUTO from the best preset, else
    the map by shape; when neither fits, from the closest preset, rows without a bone left empty for the
    user to pick. The rows then drive generation for this armature (`rows_for`)."""
    names, parents = rig.names_and_parents(obj)
    found = None
    if preset != presets.AUTO:
        try:
            found = presets.match(presets.load_presets()[preset], names, parents)
        except KeyError:
            found = None
    if found is None:
        try:
            found = rig.auto_map(obj)
        except RigError:
            try:  # an unsure map by shape is still a better start than a partial preset
                found = presets.by_shape(names, parents, rig.rest_shape(obj), min_confidence=0.0)
            except RigError:
                found = presets.closest(names, parents)
    settings.mapping.clear()
    for j, joint in enumerate(JOINT_NAMES):
        row = settings.mapping.add()
        row.joint, row.bone = joint, found.joints.get(j, "")
    settings.mapping_rig = obj.name
    return found


def rows(settings) -> dict[str, str]:
    return {row.joint: row.bone for row in settings.mapping if row.joint in JOINT_INDEX}


def rows_for(settings, armature: str) -> dict[str, str]:
    """The panel's rows when they were filled for `armature` (they drive its generation), else {}."""
    if not armature or settings.mapping_rig != armature or not len(settings.mapping):
        return {}
    return rows(settings)


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
        arm = bpy.data.objects.get(s.mapping_rig) or s.armature
        chosen = rows(s)
        try:
            if arm is not None and arm.type == "ARMATURE":  # a preset that would tear the body is refused
                presets.from_rows(chosen, *rig.names_and_parents(arm))
            path = presets.save_user_preset(name, chosen)
        except RigError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        s.preset = path.stem
        self.report({"INFO"}, f"RoPAR: saved rig preset {path}")
        return {"FINISHED"}


CLASSES = (ROPAR_OT_fill_mapping, ROPAR_OT_save_preset)
