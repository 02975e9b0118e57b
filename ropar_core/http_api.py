"""The HTTP API's requests and answers (ropar_core.server): JSON bodies -> validated keyword arguments
for the Generator, generated motions -> JSON. Everything a request asks for is bounded here, before
anything is converted, resampled or queued."""

from __future__ import annotations

import json
from http import HTTPStatus

import numpy as np

from ropar_core import limits
from ropar_core.errors import RoparError
from ropar_core.request import MAX_SECONDS

MAX_PROMPTS_PER_REQUEST = 64
MAX_EDIT_SECONDS = MAX_SECONDS  # the motion to edit, at 20 fps: the Generator's own length limit
JSON_DECIMALS = 5  # 0.01 mm: far below any visible difference, keeps responses small

GENERATE_FIELDS = {"prompt", "prompts", "seconds", "frames", "seed", "cfg", "steps", "temperature", "path"}
EDIT_FIELDS = GENERATE_FIELDS - {"prompts", "path"} | {"motion", "keep_parts", "keep_frames"}


class HttpError(RoparError):
    """A request error with an HTTP status and one of the API's error codes."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def bad_request(message: str) -> HttpError:
    return HttpError(HTTPStatus.BAD_REQUEST, "bad_request", message)


# ---------------------------------------------------------------------------------------------
# Request parsing (handler threads): JSON object -> keyword arguments for the Generator.
def _number(body: dict, key: str, kind, default=None):
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_request(f"{key!r} must be a number, got {json.dumps(value)[:40]}")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise bad_request(f"{key!r} must be a whole number, got {value}")
        if not -2**63 <= value < 2**63:  # a 400-digit number is not a seed or a length
            raise bad_request(f"{key!r} is out of range, got {str(value)[:20]}...")
        return int(value)
    return float(value)


def check_fields(body, allowed: set[str]) -> dict:
    """A JSON object whose keys are all in `allowed` (else a 400 naming the unknown ones)."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request(f"unknown field(s) {', '.join(map(repr, unknown))}; "
                          f"allowed: {', '.join(sorted(allowed))}")
    return body


def _common(body: dict) -> dict:
    if "seconds" in body and "frames" in body:
        raise bad_request("give 'seconds' or 'frames', not both")
    return {
        "seconds": _number(body, "seconds", float),
        "frames": _number(body, "frames", int),
        "seed": _number(body, "seed", int, 0),
        "cfg": _number(body, "cfg", float),
        "steps": _number(body, "steps", int),
        "temperature": _number(body, "temperature", float),
    }


def parse_generate(body) -> dict:
    body = check_fields(body, GENERATE_FIELDS)
    if ("prompt" in body) == ("prompts" in body):
        raise bad_request("give exactly one of 'prompt' (a string) or 'prompts' (a list of strings)")
    prompts = [body["prompt"]] if "prompt" in body else body["prompts"]
    if not isinstance(prompts, list) or not prompts:
        raise bad_request("'prompts' must be a non-empty list of strings")
    if len(prompts) > MAX_PROMPTS_PER_REQUEST:
        raise bad_request(f"at most {MAX_PROMPTS_PER_REQUEST} prompts per request, got {len(prompts)}")
    if not all(isinstance(p, str) for p in prompts):
        raise bad_request("every prompt must be a string")
    path = None
    if "path" in body:  # a floor path: {"points": [[x, z], ...]} or the bare list (ropar_core/path.py)
        from ropar_core.path import check_path

        try:
            path = check_path(body["path"], "'path'").tolist()
        except RoparError as exc:
            raise bad_request(str(exc)) from None
    return {"prompts": prompts, **_common(body), "path": path}


def parse_edit(body) -> dict:
    body = check_fields(body, EDIT_FIELDS)
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        raise bad_request("'prompt' (a string) is required")
    motion = body.get("motion")
    if not isinstance(motion, dict) or "joints" not in motion:
        raise bad_request("'motion' must be an object with 'joints' (frames x 22 x 3) and optionally 'fps'")
    fps = limits.check_fps(motion.get("fps", 20.0), "'motion.fps'", error=bad_request)
    frames_in = motion["joints"]
    if not isinstance(frames_in, list) or len(frames_in) < 2:
        raise bad_request("'motion.joints' must be an array of shape (frames >= 2, 22, 3)")
    at_20 = limits.resampled_count(len(frames_in), fps, 20.0)
    if at_20 > MAX_EDIT_SECONDS * 20:  # before anything is converted or resampled
        seconds = (len(frames_in) - 1) / fps
        raise bad_request(f"the motion to edit lasts {seconds:g} s; at most {MAX_EDIT_SECONDS:g} s")
    try:
        joints = np.asarray(frames_in, dtype=np.float32)
    except (ValueError, TypeError, RecursionError):
        raise bad_request("'motion.joints' must be a frames x 22 x 3 array of numbers") from None
    if joints.shape[1:] != (22, 3):
        raise bad_request(f"'motion.joints' must be a frames x 22 x 3 array, got shape {joints.shape}")
    keep_parts = body.get("keep_parts")
    if keep_parts is not None and not (isinstance(keep_parts, list)
                                       and all(isinstance(p, str) for p in keep_parts)):
        raise bad_request("'keep_parts' must be a list of part names")
    keep_frames = body.get("keep_frames")
    if keep_frames is not None:
        ok = (isinstance(keep_frames, list) and len(keep_frames) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) for v in keep_frames))
        if not ok:
            raise bad_request("'keep_frames' must be [first, end] (two whole numbers, end exclusive)")
        keep_frames = tuple(keep_frames)
    return {"prompt": prompt, "joints": joints, "fps": fps, "keep_parts": keep_parts,
            "keep_frames": keep_frames, **_common(body)}


def motion_json(m) -> dict:
    """GeneratedMotion -> the API's motion object."""
    return {
        "prompt": m.prompt, "fps": m.fps, "frames": int(m.joints.shape[0]), "seed": m.seed,
        "joints": np.round(m.joints.astype(np.float64), JSON_DECIMALS).tolist(),
        "rotations": np.round(m.rotations.astype(np.float64), JSON_DECIMALS + 1).tolist(),
        "root": np.round(m.root.astype(np.float64), JSON_DECIMALS).tolist(),
    }
