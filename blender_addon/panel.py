"""View3D › Sidebar (N) › RoPAR. Drawing only reads values: validation happens in operators and in the
property update callbacks, never in draw()."""

from __future__ import annotations

import bpy

from . import jobs

STATUS_ICONS = {"idle": "INFO", "running": "SORTTIME", "done": "CHECKMARK", "failed": "ERROR",
                "cancelled": "CANCEL"}


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
        box.prop(s, "preset", text="Preset")
        if s.preset == "AUTO" and s.detected:
            box.label(text=s.detected, icon="ARMATURE_DATA")

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
        col.prop(s, "start_at_current", text="Start at current frame")
        col.prop(s, "use_nla", text="Add as NLA strip")
        layout.prop(s, "candidates")

        state, message, progress = jobs.status()
        row = layout.row(align=True)
        row.scale_y = 1.4
        if state == "running":
            row.operator("ropar.cancel", icon="CANCEL")
            if hasattr(layout, "progress"):  # Blender 4.0+
                layout.progress(factor=progress, type="BAR", text=message)
            else:
                layout.label(text=f"{progress:.0%} {message}")
        else:
            row.operator("ropar.generate", icon="PLAY")
            if message:
                layout.label(text=message, icon=STATUS_ICONS.get(state, "INFO"))


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
