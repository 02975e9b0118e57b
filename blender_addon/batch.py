"""Headless batch generation: one Action per prompt on an armature, exported per prompt or as one .blend.

    blender -b [scene.blend] --python blender_addon/batch.py -- --prompts prompts.txt --out DIR
        [--format fbx|bvh|blend] [--armature NAME] [--rig auto|PRESET] [--make-rig smpl|metarig]
        [--server URL | --python PATH | --backend inprocess|fake] [--model DIR] [--device auto|cpu|cuda]
        [--seconds S] [--seed N] [--foot-lock] [--in-place [--root-motion]] [--loop]

Under -b timers never fire, so every generation runs synchronously through `pipeline.generate`.
With no armature in the scene (or none of that name) an SMPL-like rig is built (`--make-rig metarig`:
Rigify's human metarig). Actions are named after their prompt ('RoPAR <prompt>'; the FBX take too, the
BVH file name is the prompt's slug) and re-import keyed from frame 1. Prints a summary and exits
non-zero when any prompt failed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

FORMATS = ("fbx", "bvh", "blend")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="blender -b --python batch.py --",
                                description="Generate one RoPAR motion per prompt onto an armature.")
    p.add_argument("--prompts", required=True, help="text file: one prompt per line (# comments)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--format", choices=FORMATS, default="fbx", help="one .fbx/.bvh per prompt, or one .blend")
    p.add_argument("--armature", default="", help="armature object to animate (default: the first one)")
    p.add_argument("--rig", default="auto", help="rig preset name, or auto to detect it")
    p.add_argument("--make-rig", choices=("smpl", "metarig"), default="smpl",
                   help="rig to build when the scene has no (such) armature")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--server", metavar="URL", help="use a running `ropar serve`")
    src.add_argument("--python", metavar="PATH", help="start `ropar serve` with this interpreter")
    src.add_argument("--backend", choices=("inprocess", "fake"), default="inprocess",
                     help="inprocess: import ropar_core here; fake: procedural test motion, no model")
    p.add_argument("--model", default="", help="model directory (default: the shipped model)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--seconds", type=float, default=4.0, help="length of every motion")
    p.add_argument("--seed", type=int, default=0, help="seed of the first prompt (prompt i gets seed + i)")
    p.add_argument("--foot-lock", action="store_true", help="hold planted feet still")
    p.add_argument("--in-place", action="store_true", help="keep the hips' horizontal travel out")
    p.add_argument("--root-motion", action="store_true",
                   help="with --in-place: put the travel on the rig's root bone when it has one")
    p.add_argument("--loop", action="store_true", help="blend each motion's end into its start")
    p.add_argument("--controls", choices=("FK", "IK"), default="FK",
                   help="on a generated Rigify rig: key its FK or its IK controls")
    return p.parse_args(argv)


def read_prompts(path: str) -> list[str]:
    from .errors import RoparAddonError

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RoparAddonError(f"cannot read prompt file {path}: {exc}") from None
    prompts = [" ".join(ln.split()) for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not prompts:
        raise RoparAddonError(f"prompt file {path} holds no prompts (one per line)")
    return prompts


def slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit] or "motion"


def make_backend(args):
    from . import backend

    if args.server:
        return backend.make_backend("URL", url=args.server)
    if args.python:
        return backend.make_backend("SERVER_PROCESS", python=args.python, model_dir=args.model,
                                    device=args.device)
    kind = "FAKE" if args.backend == "fake" else "IN_PROCESS"
    return backend.make_backend(kind, model_dir=args.model, device=args.device)


def find_armature(args):
    """The armature to animate: --armature, else the scene's first armature, else a new rig."""
    import bpy

    from . import rig

    if args.armature and args.armature in bpy.data.objects:
        return rig.armature_object(args.armature)
    if not args.armature:
        for obj in bpy.context.scene.objects:
            if obj.type == "ARMATURE":
                return obj
    name = args.armature or ("metarig" if args.make_rig == "metarig" else "SMPL")
    obj = rig.build_metarig(name) if args.make_rig == "metarig" else rig.build_smpl_armature(name)
    missing = f"no armature named {args.armature!r}" if args.armature else "no armature"
    print(f"RoPAR batch: {missing} in the scene; built a {args.make_rig} rig {obj.name!r}")
    return obj


def export(obj, action, path: Path, fmt: str) -> None:
    """Export the armature with `action` (fbx / bvh) over the action's frame range. The FBX take is named
    after the action (the scene's name, for the length of the export: importers name the action
    '<object>|<take>'); FBX time 0 is the action's first frame, which importers key at frame 1."""
    import bpy

    from .keyframes import LAYERED_ACTIONS

    scene = bpy.context.scene
    obj.animation_data.action = action
    if LAYERED_ACTIONS:
        obj.animation_data.action_slot = action.slots[0]
    first, last = (int(round(v)) for v in action.frame_range)
    scene.frame_start, scene.frame_end = first, last
    for other in scene.objects:
        other.select_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # atomic: never a half-written file at `path`
    scene_name = scene.name
    try:
        if fmt == "fbx":
            scene.name = action.name
            result = bpy.ops.export_scene.fbx(
                filepath=str(tmp), use_selection=True, object_types={"ARMATURE"}, add_leaf_bones=False,
                bake_anim=True, bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
                bake_anim_simplify_factor=0.0)
        else:
            result = bpy.ops.export_anim.bvh(filepath=str(tmp), frame_start=first, frame_end=last)
    finally:
        scene.name = scene_name
    if "FINISHED" not in result or not tmp.is_file():
        raise RuntimeError(f"{fmt} export of {action.name!r} failed")
    tmp.replace(path)


def file_name(prompt: str, fmt: str, taken: set[str]) -> str:
    """'<prompt slug>.<fmt>' (BVH importers name the action after the file), '_2', '_3' ... on repeats."""
    stem, n = slug(prompt), 1
    name = f"{stem}.{fmt}"
    while name in taken:
        n += 1
        name = f"{stem}_{n}.{fmt}"
    taken.add(name)
    return name


def run(args) -> int:
    import bpy

    from . import pipeline, presets
    from .errors import RoparAddonError

    prompts = read_prompts(args.prompts)
    out = output_dir(args.out)
    obj = find_armature(args)
    preset = presets.AUTO if args.rig.lower() == "auto" else args.rig
    # A rig that cannot be driven fails once, before any generation.
    pipeline.prepare(obj.name, preset, controls=args.controls)
    backend = make_backend(args)
    rows, failures, actions, taken = [], 0, [], set()
    first_frame = 0 if args.format == "fbx" else 1  # FBX time 0 = frame 1 once imported (see export)
    try:
        if hasattr(backend, "health"):  # an unreachable server fails once, not once per prompt
            backend.health()
        for i, prompt in enumerate(prompts):
            start = time.perf_counter()
            try:
                applied = pipeline.generate(
                    armature=obj.name, prompt=prompt, backend=backend, seconds=args.seconds,
                    seed=args.seed + i, preset=preset, foot_lock=args.foot_lock, in_place=args.in_place,
                    root_motion=args.root_motion, loop=args.loop, frame_start=first_frame, fit_timeline=False,
                    controls=args.controls, report=lambda level, msg: None)
                action = bpy.data.actions[applied.action]
                action.use_fake_user = True  # every action survives in the saved .blend
                actions.append(action)
                target = "" if args.format == "blend" else file_name(prompt, args.format, taken)
                if target:
                    export(obj, action, out / target, args.format)
                elapsed = time.perf_counter() - start
                rows.append((prompt, "ok", target or applied.action, applied.frames, elapsed))
            except (RoparAddonError, RuntimeError) as exc:
                failures += 1
                rows.append((prompt, "FAILED", str(exc), 0, time.perf_counter() - start))
    finally:
        backend.close()
    if args.format == "blend" and actions:
        path = out / "ropar_batch.blend"
        try:
            save_blend(path)
            print(f"RoPAR batch: saved {len(actions)} actions in {path}")
        except RoparAddonError as exc:
            failures = len(prompts)
            print(f"RoPAR batch: error: {exc}", file=sys.stderr)
    for prompt, state, what, frames, seconds in rows:
        print(f"RoPAR batch: {state:6s} {seconds:6.2f} s {frames:5d} frames  {prompt[:50]!r} -> {what}")
    ok = len(prompts) - failures
    print(f"RoPAR batch: {len(prompts)} prompts, {ok} ok, {failures} failed; output in {out}")
    return 1 if failures else 0


def output_dir(path: str) -> Path:
    """--out as an absolute folder (Blender refuses to save to a relative path; relative means relative
    to the working directory, as in any command), created now: an unwritable one fails before any
    generation."""
    from .errors import RoparAddonError

    out = Path(path).expanduser().resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RoparAddonError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    return out


def save_blend(path: Path) -> None:
    """Save a copy of the file at `path` through a temporary name: never a half-written .blend."""
    import bpy

    from .errors import RoparAddonError

    tmp = path.with_name(f".{path.stem}.tmp.blend")
    try:
        result = bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True)
    except RuntimeError as exc:  # Blender's own report, e.g. the folder is not writable
        result, error = set(), str(exc).strip()
    else:
        error = "Blender did not save it"
    try:
        if "FINISHED" not in result or not tmp.is_file():
            raise RoparAddonError(f"cannot write {path}: {error}")
        os.replace(tmp, path)
    except OSError as exc:
        raise RoparAddonError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    from .errors import RoparAddonError

    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    args = parse_args(argv)
    try:
        return run(args)
    except RoparAddonError as exc:
        print(f"RoPAR batch: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug must still fail the batch: Blender itself would exit 0
        import traceback

        traceback.print_exc()
        print(f"RoPAR batch: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # Run as `blender --python .../batch.py`: import this file's package by its folder name (blender_addon
    # in the repository, ropar once installed) so the relative imports work.
    import importlib

    _here = Path(__file__).resolve().parent
    sys.path.insert(0, str(_here.parent))
    _code = importlib.import_module(f"{_here.name}.batch").main()
    sys.stdout.flush()
    sys.exit(_code)
