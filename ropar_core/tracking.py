"""Choosing one person per frame from a keypoint file's detections (DESIGN §4)."""

from __future__ import annotations

import math

import numpy as np

from ropar_core.errors import MotionFileError
from ropar_core.keypoints import Detection, KeypointSequence


def _centre(det: Detection) -> np.ndarray | None:
    b = det.box()
    return None if b is None else np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


def _diag(det: Detection) -> float:
    b = det.box()
    return 0.0 if b is None else float(math.hypot(b[2] - b[0], b[3] - b[1]))


def select_person(seq: KeypointSequence, track_id: str | None = None) -> tuple[np.ndarray, dict]:
    """One person per frame -> ((T, J) confidences, info about the choice).

    With track ids: the requested id, else the id seen in the most frames (ties: larger mean box).
    Without: the largest person (box or keypoint extent) of the first frame with anyone in it, then in
    each later frame the detection nearest to the last seen centre, within a gate of one box diagonal
    per frame since it was last seen (so a bystander far away is not taken when the person leaves)."""
    T, J = len(seq.frames), seq.layout.num_joints
    conf = np.zeros((T, J), dtype=np.float64)
    max_people = max((len(f) for f in seq.frames), default=0)
    ids = {d.track_id for f in seq.frames for d in f if d.track_id is not None}
    info: dict = {"max_people": max_people}
    chosen: list[Detection | None] = [None] * T

    if track_id is not None or ids:
        if track_id is None:
            def score(tid):
                dets = [d for f in seq.frames for d in f if d.track_id == tid]
                return (len(dets), float(np.mean([d.area() for d in dets])))
            track_id = max(sorted(ids), key=score)
        elif str(track_id) not in ids:
            listed = ", ".join(sorted(ids)[:10]) or "none"
            raise MotionFileError(f"track id {track_id} not in the keypoints (ids present: {listed})")
        track_id = str(track_id)
        for t, f in enumerate(seq.frames):
            matches = [d for d in f if d.track_id == track_id]
            chosen[t] = max(matches, key=Detection.area) if matches else None
        info.update(selection="track_id", track_id=track_id)
    elif max_people <= 1:
        chosen = [f[0] if f else None for f in seq.frames]
        info.update(selection="single")
    else:
        last, last_t, scale = None, 0, 0.0
        for t, f in enumerate(seq.frames):
            if not f:
                continue
            if last is None:
                pick = max(f, key=Detection.area)
            else:
                dists = [np.linalg.norm(c - last) if (c := _centre(d)) is not None else np.inf for d in f]
                k = int(np.argmin(dists))
                gate = max(scale, 1e-9) * (t - last_t)
                pick = f[k] if dists[k] <= gate else None
            if pick is None:
                continue
            chosen[t] = pick
            c = _centre(pick)
            if c is not None:
                last, last_t, scale = c, t, max(_diag(pick), 1e-6)
            elif last is None:
                last_t = t
        info.update(selection="largest_then_nearest")
    for t, d in enumerate(chosen):
        if d is not None:
            conf[t] = d.scores[:J]
    info["frames_without_person"] = int(sum(d is None for d in chosen))
    return conf.astype(np.float32), info
