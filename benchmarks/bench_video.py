"""`ropar video` on the shared videos: speed (video frames per second, end to end) and the clip's
properties (credible frames per part, bone-length variation, reprojection error, feet on the floor).

    python benchmarks/bench_video.py [--videos DIR] [--crop-top 0.5] [--out v.json]

DIR defaults to ../shared/datasets/videos.tar.xz unpacked into a temporary folder. --crop-top also runs
every video cut to its top share (a person cut at the waist: the legs must come out not credible).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from ropar_core.skeleton import PART_NAMES  # noqa: E402
from ropar_core.video_clip import bone_length_variation, video_to_clip  # noqa: E402
from tests.helpers.videos import crop_top, unpack_videos  # noqa: E402


def row(path: Path) -> dict:
    start = time.perf_counter()
    clip = video_to_clip(path, progress=False)
    seconds = time.perf_counter() - start
    lower = clip.joints[:, [10, 11], 1].min(1)
    return {"video": path.name, "video_frames": clip.report["video_frames"],
            "frames_per_s": round(clip.report["video_frames"] / seconds, 1),
            "credible": {p: round(float(clip.credible[:, k].mean()), 2) for k, p in enumerate(PART_NAMES)},
            "bone_variation": round(bone_length_variation(clip.joints), 5),
            "reprojection": clip.report["reprojection_median"],
            "lower_foot_within_5cm": round(float(np.mean(np.abs(lower) < 0.05)), 2),
            "gravity": clip.report["gravity"], "breaks": clip.report["breaks"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", default=None, help="folder of videos (default: the shared ones)")
    p.add_argument("--crop-top", type=float, default=None, help="also run each video cut to this top share")
    p.add_argument("--out", default=None, help="also write the rows as JSON")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.videos) if args.videos else unpack_videos(Path(tmp))
        paths = sorted(folder.glob("*.mp4"))
        if args.crop_top:
            paths += [crop_top(v, Path(tmp) / f"top-{v.name}", args.crop_top) for v in list(paths)]
        rows = [row(v) for v in paths]
    for r in rows:
        print(json.dumps(r))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
