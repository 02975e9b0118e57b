"""2D keypoint files -> per-frame detections (DESIGN §4).

Four formats: ViTPose/MMPose COCO-17 JSON, OpenPose BODY_25 folders, MediaPipe Pose 33 landmarks
(.npy or JSON) and plain (frames, joints) confidence arrays (.npy/.csv/.json). Every reader returns a
`KeypointSequence`: a list of frames, each a list of detected people; `tracking.select_person` then
chooses one person per frame.

Scores must lie in [0, 1]; heatmap peaks (ViTPose, HRNet) overshoot 1 a little, so values within
`SCORE_TOLERANCE` outside are clipped and anything further out is an error.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ropar_core import limits
from ropar_core.errors import MotionFileError
from ropar_core.layouts import LAYOUTS, Layout, get_layout, layout_for_joints

FORMATS = ("coco17", "openpose25", "mediapipe33", "array")
SCORE_TOLERANCE = 0.1


@dataclass
class Detection:
    """One person in one frame: scores (J,), optional xy (J, 2), bbox (x1, y1, x2, y2), track id."""

    scores: np.ndarray
    xy: np.ndarray | None = None
    bbox: np.ndarray | None = None
    track_id: str | None = None

    def box(self) -> np.ndarray | None:
        """The bbox, or the extent of the confidently placed keypoints."""
        if self.bbox is not None:
            return self.bbox
        if self.xy is None:
            return None
        ok = (self.scores > 0.05) & np.isfinite(self.xy).all(axis=1)
        if not ok.any():
            return None
        pts = self.xy[ok]
        return np.concatenate([pts.min(axis=0), pts.max(axis=0)])

    def area(self) -> float:
        b = self.box()
        return 0.0 if b is None else float(max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0))


@dataclass
class KeypointSequence:
    frames: list[list[Detection]]
    layout: Layout
    fps: float | None = None
    notes: list[str] = field(default_factory=list)


def check_scores(scores: np.ndarray, where: str) -> np.ndarray:
    if np.isnan(scores).any():
        raise MotionFileError(f"{where}: NaN confidence scores")
    if np.isinf(scores).any():
        raise MotionFileError(f"{where}: infinite confidence scores")
    if scores.size and (scores.min() < -SCORE_TOLERANCE or scores.max() > 1 + SCORE_TOLERANCE):
        raise MotionFileError(
            f"{where}: confidence scores outside [0, 1] (min {scores.min():.3g}, max {scores.max():.3g}); "
            "scores that are not probabilities (e.g. RTMPose SimCC) must be rescaled first")
    return np.clip(scores, 0.0, 1.0)


def load_json(path: Path):
    """A bounded regular JSON file (limits.read_bytes: devices and FIFOs refused)."""
    text = limits.read_bytes(path, limits.MAX_JSON_BYTES, "JSON file").decode("utf-8", errors="replace")
    if not text.strip():
        raise MotionFileError(f"{path}: empty file")
    return limits.parse_json(text, str(path))


def _as_array(value, where: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise MotionFileError(f"{where}: keypoints are not a numeric array") from None


def _bbox(value) -> np.ndarray | None:
    """MMPose writes [x1, y1, x2, y2] (sometimes nested once); a box whose corner 2 is not right/below
    corner 1 is read as COCO [x, y, w, h]."""
    if value is None:
        return None
    try:
        b = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise MotionFileError(f"bbox {str(value)[:30]} is not numbers [x1, y1, x2, y2]") from None
    if b.size < 4 or not np.isfinite(b[:4]).all():
        return None
    b = b[:4]
    if b[2] <= b[0] or b[3] <= b[1]:
        b = np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]])
    return b


def _track_id(d: dict) -> str | None:
    for key in ("track_id", "person_id", "track"):  # not "id": COCO results use it per detection
        if key in d and d[key] is not None:
            v = d[key]
            if isinstance(v, list):  # OpenPose writes [-1]
                v = v[0] if v else -1
            if not isinstance(v, (str, int, float)) or isinstance(v, bool):
                raise MotionFileError(f"track id {str(v)[:30]} is not a number or a string")
            if isinstance(v, (int, float)) and v < 0:
                return None  # -1 = untracked
            return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)[:100]
    return None


# COCO-17 is the first 17 joints of Halpe-26 and COCO-WholeBody-133.
_COCO_SUPERSETS = {17: "COCO-17", 26: "Halpe-26", 133: "COCO-WholeBody-133"}


def _coco_detection(kps, scores, where: str, bbox=None, track_id=None) -> Detection:
    arr = _as_array(kps, where)
    if arr.ndim == 1 and arr.size % 3 == 0 and arr.size // 3 in _COCO_SUPERSETS and scores is None:
        arr = arr.reshape(-1, 3)  # COCO results: flat [x, y, v, ...]
    if arr.ndim != 2 or arr.shape[1] not in (2, 3):
        raise MotionFileError(f"{where}: keypoints must be (17, 2) or (17, 3), got shape {arr.shape}")
    if arr.shape[0] not in _COCO_SUPERSETS:
        raise MotionFileError(f"{where}: {arr.shape[0]} keypoints per person; coco17 needs 17 "
                              "(or a superset: Halpe-26, COCO-WholeBody-133)")
    if scores is not None:
        s = _as_array(scores, where).reshape(-1)
        if s.size != arr.shape[0]:
            raise MotionFileError(f"{where}: {s.size} keypoint scores for {arr.shape[0]} keypoints")
    elif arr.shape[1] == 3:
        s = arr[:, 2]
    else:
        raise MotionFileError(f"{where}: keypoints have no confidence scores")
    s = check_scores(s[:17], where)
    return Detection(s, arr[:17, :2].copy(), _bbox(bbox), track_id)


def _coco_instance(inst, where: str) -> Detection:
    if isinstance(inst, dict):
        if "keypoints" not in inst:
            raise MotionFileError(f"{where}: person entry has no 'keypoints'")
        scores = inst.get("keypoint_scores", inst.get("scores"))
        return _coco_detection(inst["keypoints"], scores, where, inst.get("bbox"), _track_id(inst))
    return _coco_detection(inst, None, where)


def _frame_index(d: dict) -> int | None:
    """A frame number in 0..MAX_MOTION_FRAMES-1: missing frames are filled with empty ones, so a huge
    index would ask for that many."""
    for key in ("frame", "frame_id", "frame_idx", "frame_index"):
        if key in d:
            v = d[key]
            whole = isinstance(v, int) or (isinstance(v, float) and v.is_integer())
            if isinstance(v, bool) or not whole:
                raise MotionFileError(f"frame index {str(v)[:30]} is not a whole number")
            if not 0 <= v < limits.MAX_MOTION_FRAMES:
                top = limits.MAX_MOTION_FRAMES - 1
                raise MotionFileError(f"frame index {str(v)[:30]} is outside 0..{top}")
            return int(v)
    return None


def _people(value, where: str, what: str) -> list:
    """An MMPose 'predictions' / 'instances' value: a list of people (or None)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MotionFileError(f"{where}: '{what}' must be a list of people, got {type(value).__name__}")
    return value


def _coco_frame(entry, where: str) -> tuple[int | None, list[Detection]]:
    """One element of a top-level list -> (frame index or None, people)."""
    if isinstance(entry, dict):
        idx = _frame_index(entry)
        if "predictions" in entry:  # MMPoseInferencer: [[inst, ...]] (batch of one) or [inst, ...]
            preds = _people(entry["predictions"], where, "predictions")
            if preds and isinstance(preds[0], list):
                preds = [p for batch in preds for p in _people(batch, where, "predictions")]
            return idx, [_coco_instance(p, where) for p in preds]
        if "instances" in entry:  # MMPose saved predictions / demo `instance_info`
            return idx, [_coco_instance(p, where) for p in _people(entry["instances"], where, "instances")]
        if "keypoints" in entry:  # simple form: one person per entry
            return idx, [_coco_instance(entry, where)]
        if entry and all(isinstance(v, list) for v in entry.values()):  # {track_id: 17x3} per frame
            return None, [_coco_detection(v, None, where, track_id=str(k)) for k, v in entry.items()]
        raise MotionFileError(f"{where}: unrecognised frame entry with keys {sorted(entry)[:6]}")
    if entry is None:
        return None, []
    arr = _as_array(entry, where)
    if arr.size == 0:
        return None, []
    if arr.ndim == 3:  # (people, 17, 3)
        return None, [_coco_detection(a, None, where) for a in arr]
    return None, [_coco_detection(arr, None, where)]


def read_coco17(path: str | Path) -> KeypointSequence:
    """ViTPose / MMPose COCO-17 JSON (inferencer output, saved predictions, demo `instance_info`,
    easy_ViTPose, or a simple list of per-frame keypoint arrays)."""
    path = Path(path)
    data = load_json(path)
    fps = None
    if isinstance(data, dict):
        fps = _fps_value(data)
        kps = data.get("keypoints")
        if isinstance(data.get("instance_info"), list):  # MMPose demo --save-predictions
            data = data["instance_info"]
        elif isinstance(data.get("frames"), list):
            data = data["frames"]
        elif isinstance(kps, list) and kps and all(isinstance(k, dict) for k in kps):  # easy_ViTPose
            data = kps
        else:
            data = [data]  # a single frame
    if not isinstance(data, list):
        raise MotionFileError(f"{path}: expected a list of frames, got {type(data).__name__}")
    if not data:
        raise MotionFileError(f"{path}: no frames")
    limits.check_frames(len(data), str(path), error=MotionFileError)  # before a Detection per entry
    indexed: dict[int, list[Detection]] = {}
    sequential: list[list[Detection]] = []
    for i, entry in enumerate(data):
        idx, people = _coco_frame(entry, f"{path} frame {i}")
        if idx is None:
            sequential.append(people)
        else:
            indexed.setdefault(idx, []).extend(people)
    if indexed and sequential:
        raise MotionFileError(f"{path}: some entries have a frame index and some do not")
    if indexed:  # absolute frame numbers: missing frames had nobody detected
        frames = [indexed.get(i, []) for i in range(max(indexed) + 1)]
    else:
        frames = sequential
    return KeypointSequence(frames, LAYOUTS["coco17"], fps)


def _fps_value(d: dict) -> float | None:
    for key in ("fps", "frame_rate", "video_fps"):
        v = d.get(key)
        if v is not None:
            return limits.check_fps(v, f"'{key}'", error=MotionFileError)
    return None


def _frame_number(p: Path) -> int:
    nums = re.findall(r"\d+", p.name)
    return int(nums[-1]) if nums else -1


def read_openpose25(path: str | Path) -> KeypointSequence:
    """OpenPose BODY_25: a folder of per-frame `*_keypoints.json` (or one such file)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*_keypoints.json")) or sorted(path.glob("*.json"))
        if not files:
            raise MotionFileError(f"{path}: no *_keypoints.json files in the folder")
        files.sort(key=lambda p: (_frame_number(p), p.name))
        limits.check_frames(len(files), f"{path} (one frame per file)", error=MotionFileError)
    elif path.exists():
        files = [path]
    else:
        raise MotionFileError(f"{path}: no such file or folder")
    frames = []
    for f in files:
        data = load_json(f)
        if not isinstance(data, dict) or not isinstance(data.get("people"), list):
            raise MotionFileError(f"{f}: not an OpenPose keypoints file (no 'people' list)")
        people = []
        for person in data["people"]:
            if not isinstance(person, dict):
                raise MotionFileError(f"{f}: each entry of 'people' must be an object with pose_keypoints_2d")
            kp = _as_array(person.get("pose_keypoints_2d", []), str(f)).reshape(-1)
            if kp.size != 75:
                hint = " (54 = OpenPose COCO-18 model, not supported)" if kp.size == 54 else ""
                raise MotionFileError(f"{f}: pose_keypoints_2d has {kp.size} values; BODY_25 needs 75{hint}")
            kp = kp.reshape(25, 3)
            people.append(Detection(check_scores(kp[:, 2], str(f)), kp[:, :2], None, _track_id(person)))
        frames.append(people)
    return KeypointSequence(frames, LAYOUTS["body25"], None)


def _mediapipe_person(landmarks, where: str) -> Detection:
    if not isinstance(landmarks, list) or len(landmarks) != 33:
        n = len(landmarks) if isinstance(landmarks, list) else type(landmarks).__name__
        raise MotionFileError(f"{where}: {n} landmarks; MediaPipe Pose needs 33")
    try:
        xyzv = np.array([[lm["x"], lm["y"], lm.get("z", 0.0), lm["visibility"]] for lm in landmarks],
                        dtype=np.float64)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise MotionFileError(f"{where}: landmark without x/y/visibility ({exc})") from None
    return Detection(check_scores(xyzv[:, 3], where), xyzv[:, :2])


def _mediapipe_frame(entry, where: str) -> list[Detection]:
    if entry is None or entry == []:
        return []
    if isinstance(entry, dict):
        for key in ("landmarks", "pose_landmarks", "people", "poses"):
            if key in entry:
                return _mediapipe_frame(entry[key], where)
        raise MotionFileError(f"{where}: unrecognised frame entry with keys {sorted(entry)[:6]}")
    if isinstance(entry, list) and isinstance(entry[0], list):  # several people
        return [_mediapipe_person(p, where) for p in entry if p]
    return [_mediapipe_person(entry, where)]


def read_mediapipe33(path: str | Path) -> KeypointSequence:
    """MediaPipe Pose 33 landmarks: .npy (T, 33, 4) x, y, z, visibility (a frame of all-NaN = no
    person) or JSON: a list of frames, each 33 {"x", "y", "z", "visibility"} (or several people)."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        arr = _load_npy(path)
        if arr.ndim != 3 or arr.shape[1] != 33 or arr.shape[2] < 4:
            raise MotionFileError(f"{path}: shape {arr.shape}; MediaPipe landmarks need (frames, 33, 4) "
                                  "x, y, z, visibility")
        frames = []
        for t, a in enumerate(arr):
            if np.isnan(a).all():
                frames.append([])
                continue
            frames.append([Detection(check_scores(a[:, 3], f"{path} frame {t}"), a[:, :2].copy())])
        return KeypointSequence(frames, LAYOUTS["mediapipe33"], None)
    data = load_json(path)
    fps = None
    if isinstance(data, dict):
        fps = _fps_value(data)
        data = data.get("frames", data.get("landmarks"))
    if not isinstance(data, list) or not data:
        raise MotionFileError(f"{path}: expected a non-empty list of frames of 33 landmarks")
    limits.check_frames(len(data), str(path), error=MotionFileError)
    frames = [_mediapipe_frame(entry, f"{path} frame {t}") for t, entry in enumerate(data)]
    return KeypointSequence(frames, LAYOUTS["mediapipe33"], fps)


def _load_npy(path: Path) -> np.ndarray:
    limits.check_npy_header(path)  # real numbers, a bounded frame count: before numpy allocates
    try:
        with limits.open_regular(path) as fh:
            arr = np.load(fh, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise MotionFileError(f"{path}: not a readable .npy array ({exc})") from None
    return arr.astype(np.float64)


def _read_csv(path: Path) -> np.ndarray:
    text = limits.read_bytes(path, limits.MAX_JSON_BYTES, "CSV file").decode("utf-8", errors="replace")
    lines = text.splitlines()
    limits.check_frames(len(lines) - 1, str(path), error=MotionFileError)  # one row per frame (+ a header)
    rows = [r for r in csv.reader(lines) if r]
    if rows:
        try:
            float(rows[0][0])
        except ValueError:
            rows = rows[1:]  # header
    if not rows:
        raise MotionFileError(f"{path}: empty file")
    if len({len(r) for r in rows}) != 1:
        raise MotionFileError(f"{path}: rows have different numbers of columns (truncated?)")
    try:
        return np.array([[float(v) for v in r] for r in rows], dtype=np.float64)
    except ValueError as exc:
        raise MotionFileError(f"{path}: non-numeric value ({exc})") from None


def read_array(path: str | Path, layout: str | None = None) -> KeypointSequence:
    """A plain (frames, joints) confidence array: .npy, .csv (optional header row) or .json (a list of
    rows, or {"confidence": rows, "layout": name, "fps": f}). The layout is named or inferred from the
    joint count. A row of all NaN means nobody was detected in that frame."""
    path = Path(path)
    suffix = path.suffix.lower()
    fps = None
    if suffix == ".npy":
        arr = _load_npy(path)
    elif suffix == ".csv":
        arr = _read_csv(path)
    elif suffix == ".json":
        data = load_json(path)
        if isinstance(data, dict):
            fps = _fps_value(data)
            layout = layout or data.get("layout")
            if layout is not None and not isinstance(layout, str):
                raise MotionFileError(f"{path}: 'layout' must be a name such as coco17")
            data = data.get("confidence", data.get("confidences", data.get("scores")))
        if isinstance(data, list):
            limits.check_frames(len(data), str(path), error=MotionFileError)
        arr = _as_array(data if data is not None else [], str(path))
    else:
        raise MotionFileError(f"{path}: confidence arrays must be .npy, .csv or .json")
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise MotionFileError(f"{path}: expected a (frames, joints) confidence array, got shape {arr.shape}")
    lay = get_layout(layout) if layout else layout_for_joints(arr.shape[1])
    if arr.shape[1] != lay.num_joints:
        raise MotionFileError(
            f"{path}: {arr.shape[1]} columns but layout {lay.name} has {lay.num_joints} joints")
    frames = []
    for t, row in enumerate(arr):
        if np.isnan(row).all():
            frames.append([])
        else:
            frames.append([Detection(check_scores(row, f"{path} frame {t}"))])
    return KeypointSequence(frames, lay, fps)


def detect_format(path: str | Path) -> str:
    """Guess the format of a keypoint file (for importers that accept any of them)."""
    path = Path(path)
    if path.is_dir():
        return "openpose25"
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "array"
    if suffix == ".npy":
        shape = limits.check_npy_header(path)
        return "mediapipe33" if len(shape) == 3 else "array"
    if suffix == ".json":
        data = load_json(path)
        if isinstance(data, dict) and "people" in data:
            return "openpose25"
        if isinstance(data, dict) and any(k in data for k in ("confidence", "confidences", "scores")):
            return "array"
        text = json.dumps(data)[:20000]
        if '"visibility"' in text:
            return "mediapipe33"
        if '"keypoints"' in text or '"instances"' in text or '"predictions"' in text:
            return "coco17"
        return "array"
    raise MotionFileError(f"{path}: cannot tell the keypoint format from the name; pass the format")


def read_keypoints(path: str | Path, fmt: str, layout: str | None = None) -> KeypointSequence:
    """Read any supported format into per-frame detections. A file of the right syntax but a shape no
    reader expects is one MotionFileError line, whatever part of the reader trips over it."""
    try:
        return _read_keypoints(path, fmt, layout)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError,
            RecursionError) as exc:
        raise MotionFileError(f"{path}: not a readable {fmt} keypoint file ({type(exc).__name__}: "
                              f"{str(exc)[:80]})") from None


def _read_keypoints(path: str | Path, fmt: str, layout: str | None = None) -> KeypointSequence:
    fmt = detect_format(path) if fmt == "auto" else fmt
    if layout is not None and not isinstance(layout, str):
        raise MotionFileError(f"{path}: layout must be a name, got {str(layout)[:30]}")
    if fmt == "coco17":
        seq = read_coco17(path)
    elif fmt == "openpose25":
        seq = read_openpose25(path)
    elif fmt == "mediapipe33":
        seq = read_mediapipe33(path)
    elif fmt == "array":
        seq = read_array(path, layout)
    else:
        raise MotionFileError(f"unknown keypoint format {fmt!r}; choose from: {', '.join(FORMATS)}")
    if layout and fmt != "array" and get_layout(layout).name != seq.layout.name:
        raise MotionFileError(f"format {fmt} uses layout {seq.layout.name}, not {layout}")
    if not seq.frames:
        raise MotionFileError(f"{path}: no frames")
    return seq

