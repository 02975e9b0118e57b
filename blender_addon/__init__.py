"""RoPAR for Blender: type a prompt, pick an armature, get a keyframed Action (DESIGN §1).

Install: the zip from `python -m blender_addon.build` (an extension for Blender 4.2+, an add-on for
3.x through bl_info). Headless: `blender -b --python blender_addon/batch.py -- --help`.
Modules: retarget / placement / clip / names / rotations / presets / fake_motion / backend / learn are
numpy-only (importable anywhere); rig, keyframes, pipeline, jobs, mapping, props, operators, panel and
learn_ui need bpy and are imported in register().
"""

bl_info = {
    "name": "RoPAR Motion",
    "author": "RoPAR contributors",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "View3D > Sidebar > RoPAR",
    "description": "Text-to-motion: generate a motion from a prompt and retarget it onto any armature",
    "category": "Animation",
}


def _classes():
    from . import learn_ui, mapping, operators, panel, props

    return props.CLASSES + operators.CLASSES + mapping.CLASSES + panel.CLASSES + learn_ui.CLASSES


def register():
    import bpy

    from . import learn_ui, props

    for cls in _classes():
        bpy.utils.register_class(cls)
    props.register_settings()
    learn_ui.register_settings()


def unregister():
    import bpy

    from . import jobs, learn_ui, props

    learn_ui.unregister_settings()
    jobs.shutdown()
    props.unregister_settings()
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
