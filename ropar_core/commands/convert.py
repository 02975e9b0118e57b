"""`ropar convert IN OUT`: motion files between BVH, HumanML3D-263 features and SMPL-22 joints.

Formats come from the suffixes unless --from/--to name them: .bvh = bvh, .amc = CMU's AMC (read only, with
its .asf skeleton), .npy = h3d263 (an input .npy of
shape T x 22 x 3 is read as joints), .npz and .json = joints with rotations. Going to h3d263 runs
normalise_joints (unit, up axis, facing, floor, 20 fps) and joints_to_features; coming from h3d263 runs
features_to_joints and features_to_rotations.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ropar_core import features as F
from ropar_core import io, limits
from ropar_core import skeleton as sk
from ropar_core.bone_maps import BONE_MAPS
from ropar_core.errors import RoparError

CLI_FORMATS = ("bvh", "h3d263", "joints", "npz", "json")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "convert", help="convert motion files (BVH, HumanML3D-263, SMPL-22 joints)",
        description="Convert a motion between BVH (any skeleton with a known bone map: Bandai, CMU, Mixamo, "
                    "SMPL), HumanML3D-263 features (.npy, 20 fps) and SMPL-22 joints (.npy/.npz/.json).")
    p.add_argument("input", metavar="IN", help="input motion file")
    p.add_argument("output", metavar="OUT", help="output motion file (written atomically)")
    p.add_argument("--from", dest="src", choices=CLI_FORMATS, default=None,
                   help="input format (default: from the suffix; .npy by its shape)")
    p.add_argument("--to", dest="dst", choices=CLI_FORMATS, default=None,
                   help="output format (default: from the suffix; .npy = h3d263)")
    p.add_argument("--fps", type=float, default=None,
                   help="output frame rate of bvh/joints outputs (default: the input's; h3d263 is always 20)")
    p.add_argument("--in-fps", type=float, default=None,
                   help="frame rate of an input .npy of joints or .amc, which do not store one (default: "
                        "20 for .npy; for .amc the rate in the dataset's TRIALS.tsv / CMU data.csv)")
    p.add_argument("--asf", default=None, metavar="FILE",
                   help="skeleton of an .amc input (default: <subject>.asf beside it)")
    p.add_argument("--bone-map", choices=tuple(BONE_MAPS), default=None,
                   help="BVH joint naming (default: detected from the joint names)")
    p.add_argument("--scale", type=float, default=None, metavar="M",
                   help="metres per unit of a BVH or joints input (default: guessed: m, cm, mm, inches, else "
                        "from the skeleton's height, e.g. for CMU's files)")
    p.set_defaults(func=run)


def _in_format(path: Path, src: str | None) -> str:
    if src is not None:
        return src
    return {".bvh": "bvh", ".npz": "npz", ".json": "json", ".amc": "amc"}.get(path.suffix.lower(), "npy")


_SUFFIXES = {"bvh": ".bvh", "h3d263": ".npy", "joints": ".npy", "npz": ".npz", "json": ".json"}


def _out_format(path: Path, dst: str | None) -> str:
    suffix = path.suffix.lower()
    if dst is not None:
        if suffix != _SUFFIXES[dst]:  # never .npy bytes under a .npz name
            hint = " (or use --to npz)" if suffix == ".npz" else ""
            raise RoparError(f"--to {dst} writes a {_SUFFIXES[dst]} file; name the output "
                             f"{path.stem}{_SUFFIXES[dst]}{hint}")
        return dst
    fmt = {".bvh": "bvh", ".npy": "h3d263", ".npz": "npz", ".json": "json"}.get(suffix)
    if fmt is None:
        raise RoparError(f"cannot tell the output format from {path.name!r}; "
                         "use .bvh, .npy, .npz, .json or --to")
    return fmt


def _check_args(args: argparse.Namespace) -> None:
    for flag, value in (("--fps", args.fps), ("--in-fps", args.in_fps)):
        if value is not None:
            limits.check_fps(value, flag)
    if args.asf is not None and Path(args.input).suffix.lower() != ".amc":
        raise RoparError("--asf goes with an .amc input")
    if os.path.realpath(args.input) == os.path.realpath(args.output):  # no error on a symlink loop
        raise RoparError("IN and OUT are the same file")


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    src_path, dst_path = Path(args.input), Path(args.output)
    src = _in_format(src_path, args.src)
    dst = _out_format(dst_path, args.dst)
    motion = io.load_motion(src_path, None if src == "npy" else src, fps=None, bone_map=args.bone_map,
                            scale=args.scale, asf=args.asf, amc_fps=args.in_fps)
    if src in ("npy", "joints") and args.in_fps is not None and motion.rotations is None:
        motion = io.Motion(motion.joints, None, args.in_fps, motion.text, motion.seed)
    if src == "npy":  # name what the array turned out to be
        src = "joints" if motion.rotations is None else "h3d263"
    if args.scale is not None and src not in ("bvh", "amc"):
        if src == "h3d263":
            raise RoparError("--scale does not apply to h3d263 features (they are in metres)")
        F.unit_scale(motion.joints, args.scale)  # validates it
        motion = io.Motion(motion.joints * args.scale, motion.rotations, motion.fps, motion.text, motion.seed)
    frames_in, fps_in = motion.frames, motion.fps
    note = ""
    if dst == "h3d263":
        if args.fps is not None and args.fps != sk.FPS:
            raise RoparError(f"h3d263 features are always {sk.FPS} fps; drop --fps {args.fps:g}")
        joints, report = F.normalise_joints(motion.joints, fps=motion.fps,
                                            scale=None if args.scale is None else 1.0)  # metres already
        io.save_motion(dst_path, io.Motion(joints, None, float(sk.FPS)), fmt="h3d263")
        frames_out, fps_out = len(joints) - 1, float(sk.FPS)  # features have one row fewer than frames
        note = f"; normalised: {F.describe_report(report)}"
    else:
        if args.fps is not None:
            motion = io.resample_motion(motion, args.fps)
        io.save_motion(dst_path, motion, fmt=dst)
        frames_out, fps_out = motion.frames, motion.fps
    print(f"converted {src_path.name} ({src}, {frames_in} frames @ {fps_in:g} fps) -> {dst_path.name} "
          f"({dst}, {frames_out} frames @ {fps_out:g} fps){note}")
    return 0
