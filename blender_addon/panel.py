"""View3D › Sidebar (N) › RoPAR. Drawing only reads values: validation happens in operators and in the
property update callbacks, never in draw()."""

from __future__ import annotations

import textwrap

import bpy

from . import jobs, operators, rig

# Blender's own report icons: ERROR is the warning triangle, CANCEL the error cross.
STATUS_ICONS = {"idle": "INFO", "running": "SORTTIME", "done": "CHECKMARK", "warning": "ERROR",
                "failed": "CANCEL", "cancelled": "X"}
CHAR_PX = 7.0  # average width of a UI character at scale 1 (Blender's default font, 11 pt)


def wrap(text: str, region_width: float, ui_scale: float = 1.0) -> list[str]:
    """`text` in lines that fit a sidebar `region_width` pixels wide (icon and margins left out)."""
    chars = max(16, int((region_width - 50 * ui_scale) / (CHAR_PX * ui_scale)))
    return textwrap.wrap(text, chars) or [""]


def draw_message(layout, text: str, icon: str, context) -> None:
    """A status or error message in full: wrapped lines, the icon on the first."""
    region = getattr(context, "region", None)
    width = region.width if region is not None else 300
    col = layout.column(align=True)
    col.scale_y = 0.8
    for i, line in enumerate(wrap(text, width, context.preferences.system.ui_scale)):
        col.label(text=line, icon=icon if i == 0 else "BLANK1")


class ROPAR_PT_panel(bpy.types.Panel):
    bl_label = "RoPAR Motion"
    bl_idname = "ROPAR_PT_panel"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "RoPAR"

    def draw(self, context):
        s = context.scene.ropar
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False

        layout.prop(s, "prompt", text="")
        col = layout.column(align=True)
        col.prop(s, "seconds")
        col.prop_search(s, "path", bpy.data, "objects", icon="CURVE_DATA")  # a curve object (path_curve.py)
        col.prop(s, "seed")
        row = layout.row()
        row.use_property_split = False  # full width: the label stays readable in a narrow sidebar
        row.prop(s, "override_sampling", text="Custom sampling")
        col = layout.column(align=True)
        col.active = s.override_sampling
        col.prop(s, "cfg")
        col.prop(s, "steps")

        box = layout.box()
        box.prop(s, "armature", text="Rig")
        if s.armature is None:
            target = operators.target_armature(context)
            draw_message(box, f"Selected: {target}" if target else "Select an armature or pick one above",
                         "RESTRICT_SELECT_OFF" if target else "INFO", context)
        box.prop(s, "preset", text="Preset")
        if s.preset == "AUTO" and s.detected:
            draw_message(box, s.detected, "ARMATURE_DATA", context)
        if s.detected.startswith(rig.CONTROL_RIG_LABEL):
            box.row().prop(s, "controls", expand=True)

        box = layout.box()
        box.label(text="Keep from current motion:")
        box.prop(s, "keep_parts", expand=True)

        col = layout.column(align=True)
        col.use_property_split = False
        col.prop(s, "foot_lock")
        row = col.row(align=True)
        row.prop(s, "in_place")
        row.prop(s, "loop")
        sub = col.row()
        sub.active = s.in_place
        sub.prop(s, "root_motion")
        col.prop(s, "continue_current", text=f"Continue from frame {context.scene.frame_current}")
        col.prop(s, "use_nla", text="Add as NLA strip")
        layout.prop(s, "candidates")

        state, message, progress = jobs.status()
        row = layout.row(align=True)
        row.scale_y = 1.4
        if state == "running":
            row.operator("ropar.cancel", icon="CANCEL")
            if hasattr(layout, "progress"):  # Blender 4.0+
                layout.progress(factor=progress, type="BAR", text=f"{progress:.0%}")
                draw_message(layout, message, "SORTTIME", context)
            else:
                draw_message(layout, f"{progress:.0%} {message}", "SORTTIME", context)
        else:
            row.operator("ropar.generate", icon="PLAY")
            if message:
                draw_message(layout, message, STATUS_ICONS.get(state, "INFO"), context)


class ROPAR_PT_mapping(bpy.types.Panel):
    """The 22 joints and the bone at each: filled by auto-detection, editable, saved as a preset."""

    bl_label = "Bone Mapping"
    bl_idname = "ROPAR_PT_mapping"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "RoPAR"
    bl_parent_id = "ROPAR_PT_panel"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        s = context.scene.ropar
        layout = self.layout
        arm = s.armature
        if arm is None or arm.type != "ARMATURE":
            layout.label(text="Pick a rig above", icon="INFO")
            return
        layout.operator("ropar.fill_mapping", icon="VIEWZOOM")
        col = layout.column(align=True)
        for row in s.mapping:
            line = col.split(factor=0.35, align=True)
            line.label(text=row.joint)
            line.prop_search(row, "bone", arm.data, "bones", text="")
        row = layout.row(align=True)
        row.prop(s, "preset_name", text="")
        row.operator("ropar.save_preset", icon="FILE_TICK")


CLASSES = (ROPAR_PT_panel, ROPAR_PT_mapping)
