"""`ropar video VIDEO --out CLIP.npz`: a video of one person -> a rigid 3D clip with per-part credibility
(MediaPipe pose, the credibility rule of `ropar credibility`, a fitted SMPL-22 skeleton; see
ropar_core/video_clip.py and docs/own-video.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ropar_core.credibility import DEFAULT_MIN_GAP, DEFAULT_MIN_ISLAND, DEFAULT_TAU
from ropar_core.errors import RoparError
from ropar_core.skeleton import PART_NAMES


def add_parser(sub) -> None:
    p = sub.add_parser(
        "video", help="video of a person -> 3D clip (.npz) with the body parts that were seen",
        description="Pose every frame with MediaPipe (offline), keep one person, judge which body parts "
                    "were seen (visibility, in-frame test, reprojection error), fit a rigid SMPL-22 "
                    "skeleton, put it upright on the floor, and write the clip at 20 fps.")
    p.add_argument("video", metavar="VIDEO", help="video file (anything OpenCV reads: .mp4 .mov .avi .webm)")
    p.add_argument("--out", required=True, metavar="CLIP.npz",
                   help="output clip: joints (T, 22, 3), credible (T, 5), fps, text")
    p.add_argument("--bvh", metavar="CLIP.bvh", help="also write the clip as a BVH")
    p.add_argument("--preview", metavar="CLIP.gif",
                   help="also write a preview (.gif or .png); unseen parts grey")
    p.add_argument("--caption", default="", help="what the person does, e.g. 'someone does jumping jacks'")
    p.add_argument("--start", type=float, default=0.0, help="start at this second of the video")
    p.add_argument("--end", type=float, default=None, help="stop at this second of the video")
    p.add_argument("--tau", type=float, default=DEFAULT_TAU, help="part confidence threshold (default 0.5)")
    p.add_argument("--min-gap", type=int, default=DEFAULT_MIN_GAP,
                   help="close non-credible gaps shorter than this many frames at 20 fps (default 3)")
    p.add_argument("--min-island", type=int, default=DEFAULT_MIN_ISLAND,
                   help="drop credible islands shorter than this many frames at 20 fps (default 3)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    if not 0.0 <= args.tau < 1.0:
        raise RoparError(f"--tau must be in [0, 1), got {args.tau}")
    if args.min_gap < 0 or args.min_island < 0:
        raise RoparError("--min-gap and --min-island must be >= 0")
    if Path(args.out).suffix.lower() != ".npz":
        raise RoparError(f"--out must be a .npz file, got {args.out}")
    if args.bvh and Path(args.bvh).suffix.lower() != ".bvh":
        raise RoparError(f"--bvh must be a .bvh file, got {args.bvh}")
    if args.preview and Path(args.preview).suffix.lower() not in (".gif", ".png"):
        raise RoparError(f"--preview must be a .gif or .png file, got {args.preview}")
    if len(args.caption) > 500:
        raise RoparError("--caption is longer than 500 characters")
    if args.end is not None and args.end <= args.start:
        raise RoparError(f"--end ({args.end}) must be after --start ({args.start})")


def summary(clip, source: str) -> str:
    r = clip.report
    lines = [f"{source}: video frames {r['kept_video_frames'][0]}-{r['kept_video_frames'][1]} of "
             f"{r['video_fps']:g} fps -> {clip.num_frames} frames at 20 fps ({r['seconds']:g} s); "
             f"reprojection {100 * (r['reprojection_median'] or 0):.1f} % of the height (median); "
             f"gravity: {r['gravity']} (tilt {r['tilt_deg']:g} deg)"]
    for frame, why in r.get("breaks", []):
        lines.append(f"  break at video frame {frame}: {why}")
    ratios = ", ".join(f"{p} {100 * clip.credible[:, k].mean():.0f} %" for k, p in enumerate(PART_NAMES))
    lines.append(f"credible frames: {ratios}; root {100 * r['root_credible_ratio']:.0f} %")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    from ropar_core import io
    from ropar_core.motion import Motion
    from ropar_core.video_clip import save_clip, video_to_clip

    clip = video_to_clip(args.video, args.caption.strip(), args.start, args.end, args.tau, args.min_gap,
                         args.min_island, progress=not args.quiet)
    save_clip(args.out, clip)
    written = [args.out]
    if args.bvh:
        io.save_motion(args.bvh, Motion(clip.joints, None, clip.fps, clip.text))
        written.append(args.bvh)
    if args.preview:
        from ropar_core.preview import save_preview

        save_preview(args.preview, clip.joints, clip.fps, title=clip.text or Path(args.video).name,
                     credible=clip.credible)
        written.append(args.preview)
    print(summary(clip, args.video))
    print("wrote " + ", ".join(written))
    return 0
