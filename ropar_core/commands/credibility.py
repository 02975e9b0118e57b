"""`ropar credibility`: per-part credibility masks from 2D keypoints (DESIGN §4)."""

from __future__ import annotations

import argparse

from ropar_core import limits
from ropar_core.credibility import (
    DEFAULT_MIN_GAP,
    DEFAULT_MIN_ISLAND,
    DEFAULT_TAU,
    TOKEN_RULES,
    Credibility,
    credibility_from_file,
)
from ropar_core.errors import RoparError
from ropar_core.keypoints import FORMATS
from ropar_core.layouts import LAYOUTS
from ropar_core.skeleton import PART_NAMES


def add_parser(sub) -> None:
    p = sub.add_parser(
        "credibility", help="detect credible body parts from 2D keypoints",
        description="Read per-frame 2D keypoints with confidences, choose the tracked person, and write "
                    "which of the five body parts are credible per frame and per 4-frame token.")
    p.add_argument("keypoints", metavar="KEYPOINTS",
                   help="keypoint file (an OpenPose folder of *_keypoints.json for openpose25)")
    p.add_argument("--format", required=True, choices=FORMATS + ("auto",),
                   help="coco17 (ViTPose/MMPose), openpose25 (BODY_25), mediapipe33, array (frames x joints)")
    p.add_argument("--layout", choices=tuple(LAYOUTS),
                   help="joint layout of an array file (default: from the number of columns)")
    p.add_argument("--tau", type=float, default=DEFAULT_TAU, help="part confidence threshold (default 0.5)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate of the keypoints, stored in the output")
    p.add_argument("--min-gap", type=int, default=DEFAULT_MIN_GAP,
                   help="close non-credible gaps shorter than this many frames (default 3)")
    p.add_argument("--min-island", type=int, default=DEFAULT_MIN_ISLAND,
                   help="drop credible islands shorter than this many frames (default 3)")
    p.add_argument("--token-rule", choices=TOKEN_RULES, default="all",
                   help="a 4-frame token is credible when all (default) or a majority of its frames are")
    p.add_argument("--track-id", default=None, help="follow this track id when several people are tracked")
    p.add_argument("--out", required=True, metavar="MASK.json", help="output JSON")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    if not 0.0 <= args.tau < 1.0:
        raise RoparError(f"--tau must be in [0, 1), got {args.tau}")
    if args.fps is not None:
        limits.check_fps(args.fps, "--fps")  # nan would be written as invalid JSON
    if args.min_gap < 0 or args.min_island < 0:
        raise RoparError("--min-gap and --min-island must be >= 0")
    if not args.out.lower().endswith(".json"):
        raise RoparError(f"--out must be a .json file, got {args.out}")


def summary(cred: Credibility, source: str) -> str:
    """Human-readable per-part statistics."""
    T = cred.num_frames
    fps = f", {cred.fps:g} fps" if cred.fps else ""
    person = cred.person
    who = person.get("selection", "")
    if person.get("track_id") is not None:
        who += f" {person['track_id']}"
    lines = [f"{source}: {T} frames{fps}, layout {cred.settings.get('layout')}, person: {who} "
             f"(up to {person.get('max_people', 1)} per frame, {person.get('frames_without_person', 0)} "
             "frames without one)",
             f"{'part':<10} {'credible frames':>16} {'credible tokens':>16} {'mean conf':>10}"]
    for part in PART_NAMES:
        s = cred.per_part[part]
        lines.append(f"{part:<10} {100 * s['credible_frame_ratio']:>15.1f}% "
                     f"{100 * s['credible_token_ratio']:>15.1f}% {s['mean_confidence']:>10.3f}")
    n_tok = cred.token_mask.shape[0]
    lines.append(f"credible-token ratio: {cred.credible_token_ratio:.3f} "
                 f"({n_tok} tokens x {len(PART_NAMES)} parts, tau {cred.tau:g}, "
                 f"rule {cred.settings.get('token_rule')})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    cred = credibility_from_file(
        args.keypoints, args.format, layout=args.layout, tau=args.tau, fps=args.fps, min_gap=args.min_gap,
        min_island=args.min_island, token_rule=args.token_rule, track_id=args.track_id)
    cred.save(args.out)
    print(summary(cred, args.keypoints))
    print(f"wrote {args.out}")
    return 0
