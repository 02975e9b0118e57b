"""Property-based fuzzing of every file reader: BVH, motion files (.npy .npz .json), keypoint files (all
four formats) and model config.json. Whatever the bytes, a reader returns a valid result or raises one
RoparError line; never another exception, a hang or a huge allocation (each example has a deadline)."""

from __future__ import annotations

import io as pyio
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ropar_core import io
from ropar_core import skeleton as sk
from ropar_core.credibility import credibility_from_file
from tests.helpers.fuzzing import FUZZ, JSON, NASTY_NUMBERS, NUMBERS, dumps, nested, path_for, refused_or_read

DATA = Path(__file__).resolve().parent / "data"
BANDAI_LINES = (DATA / "bandai_wave-left-hand_active_011.bvh").read_text().splitlines()
_M = BANDAI_LINES.index("MOTION")
SMALL_BVH = BANDAI_LINES[:_M] + ["MOTION", "Frames: 4", BANDAI_LINES[_M + 2]] + BANDAI_LINES[_M + 3:_M + 7]
BVH_WORDS = ["HIERARCHY", "ROOT", "JOINT", "End", "Site", "{", "}", "OFFSET", "CHANNELS", "MOTION", "Frames:",
             "Frame", "Time:", "Xrotation", "Yposition", "6", "3", "0", "-1", "1e300", "nan", "inf", "1e-300",
             "99999999999", "Hips", "\n"]


def _load(path: Path):
    motion = refused_or_read(io.load_motion, path)
    if motion is not None:
        assert np.isfinite(motion.joints).all() and motion.joints.shape[1:] == (22, 3)
        assert motion.fps == sk.FPS


@st.composite
def mutated_bvh(draw) -> str:
    """The small Bandai clip with tokens replaced, deleted or inserted."""
    lines = list(SMALL_BVH)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        tokens = lines[i].split() or [""]
        j = draw(st.integers(0, len(tokens) - 1))
        action = draw(st.sampled_from(["replace", "delete", "insert", "dup_line", "drop_line"]))
        word = draw(st.one_of(st.sampled_from(BVH_WORDS), NUMBERS.map(str), st.text(max_size=5)))
        if action == "replace":
            tokens[j] = word
        elif action == "delete":
            del tokens[j]
        elif action == "insert":
            tokens.insert(j, word)
        if action == "dup_line":
            lines.insert(i, lines[i])
        elif action == "drop_line":
            del lines[i]
        else:
            lines[i] = " ".join(tokens)
    return "\n".join(lines) + "\n"


@FUZZ
@given(st.one_of(mutated_bvh(), st.lists(st.sampled_from(BVH_WORDS), max_size=60).map(" ".join),
                 st.binary(max_size=300).map(lambda b: "HIERARCHY\n" + b.decode("latin-1"))))
def test_fuzz_bvh(text):
    path = path_for("fuzz.bvh")
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _load(path)


def test_deep_bvh_is_one_line():
    body = "HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 3 Xrotation Yrotation Zrotation\n"
    body += "JOINT j\n{\nOFFSET 0 1 0\nCHANNELS 3 Xrotation Yrotation Zrotation\n" * 3000 + "}\n" * 3001
    path = path_for("deep.bvh")
    path.write_text(body + "MOTION\nFrames: 1\nFrame Time: 0.05\n" + "0 " * 9003 + "\n")
    assert refused_or_read(io.load_motion, path) is None


ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.uint8, np.complex64, np.bool_]),
    shape=st.one_of(st.sampled_from([(4, 22, 3), (3, 263), (2, 22, 3), (1, 263), (0, 22, 3), (5, 22), (7,)]),
                    hnp.array_shapes(max_dims=4, max_side=6)),
    elements=None, fill=st.nothing())


@FUZZ
@given(ARRAYS, st.floats(allow_nan=True, allow_infinity=True) | NASTY_NUMBERS.filter(lambda v: v is not True))
def test_fuzz_npy(arr, poke):
    if arr.size and arr.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            arr.flat[0] = poke
    path = path_for("fuzz.npy")
    np.save(path, arr)
    _load(path)


@FUZZ
@given(st.binary(max_size=200), st.integers(0, 400))
def test_fuzz_npy_bytes(junk, cut):
    buf = pyio.BytesIO()
    np.save(buf, np.zeros((4, 22, 3), np.float32))
    raw = buf.getvalue()
    path = path_for("bytes.npy")
    path.write_bytes(raw[:cut] + junk)  # a truncated array and/or garbage after a valid prefix
    _load(path)


NPZ_VALUES = st.one_of(ARRAYS, NUMBERS.map(lambda v: np.asarray(v) if not isinstance(v, int) or abs(v) < 2**62
                                           else np.asarray(float(v))),
                       st.text(max_size=10).map(np.str_))


@FUZZ
@given(st.dictionaries(st.sampled_from(["joints", "rotations", "fps", "text", "seed", "other"]), NPZ_VALUES,
                       max_size=5), st.integers(0, 2000))
def test_fuzz_npz(arrays, cut):
    arrays.setdefault("joints", np.random.default_rng(0).normal(0, 0.3, (4, 22, 3)).astype(np.float32))
    buf = pyio.BytesIO()
    np.savez(buf, **arrays)
    raw = buf.getvalue()
    path = path_for("fuzz.npz")
    path.write_bytes(raw if cut > len(raw) else raw[:cut])  # a whole or a truncated zip
    _load(path)


def test_zip_with_a_broken_member_is_one_line():
    buf = pyio.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("joints.npy", b"\x93NUMPY\x01\x00garbage")
    path = path_for("member.npz")
    path.write_bytes(buf.getvalue())
    assert refused_or_read(io.load_motion, path) is None


WALK = np.random.default_rng(1).normal(0, 0.3, (4, 22, 3)).round(3).tolist()


@FUZZ
@given(st.one_of(
    st.fixed_dictionaries({"joints": st.one_of(JSON, st.just(WALK))},
                          optional={"fps": JSON, "rotations": JSON, "text": JSON, "seed": JSON}),
    JSON, st.integers(1, 5000).map(lambda d: '{"joints": ' + nested(d) + "}")))
def test_fuzz_motion_json(data):
    path = path_for("fuzz.json")
    path.write_text(data if isinstance(data, str) else dumps(data))
    _load(path)


# ---------------------------------------------------------------------------------------------
# Keypoints.
PERSON17 = [[10.0, 20.0, 0.9]] * 17


def _credibility(path: Path, fmt: str):
    cred = refused_or_read(credibility_from_file, path, fmt)
    if cred is not None:
        assert cred.frame_mask.shape[1] == 5 and cred.num_frames >= 1
        json.loads(cred.to_json())  # valid JSON (no NaN)


COCO_ENTRY = st.fixed_dictionaries({}, optional={
    "frame": JSON | NUMBERS, "keypoints": JSON | st.just(PERSON17), "instances": JSON,
    "predictions": JSON, "keypoint_scores": JSON, "bbox": JSON, "track_id": JSON})


@FUZZ
@given(st.one_of(st.lists(COCO_ENTRY | JSON, max_size=4), JSON,
                 st.fixed_dictionaries({"fps": JSON, "frames": st.lists(COCO_ENTRY, max_size=3)})),
       st.sampled_from(["coco17", "auto"]))
def test_fuzz_coco17(data, fmt):
    path = path_for("kp.json")
    path.write_text(dumps(data))
    _credibility(path, fmt)


@FUZZ
@given(st.one_of(st.fixed_dictionaries({"people": st.lists(JSON | st.fixed_dictionaries(
    {"pose_keypoints_2d": JSON | st.just([0.5] * 75)}, optional={"person_id": JSON}), max_size=3)}), JSON))
def test_fuzz_openpose(data):
    folder = path_for("openpose")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / "000000000000_keypoints.json").write_text(dumps(data))
    _credibility(folder, "openpose25")


LANDMARK = st.fixed_dictionaries({"x": NUMBERS, "y": NUMBERS, "visibility": NUMBERS}, optional={"z": JSON})


@FUZZ
@given(st.one_of(st.lists(st.lists(LANDMARK, min_size=33, max_size=33) | JSON, max_size=3),
                 st.fixed_dictionaries({"frames": JSON}, optional={"fps": JSON}), JSON))
def test_fuzz_mediapipe(data):
    path = path_for("mp.json")
    path.write_text(dumps(data))
    _credibility(path, "mediapipe33")


@FUZZ
@given(st.one_of(st.fixed_dictionaries({"confidence": JSON}, optional={"layout": JSON, "fps": JSON}), JSON,
                 hnp.arrays(np.float64, st.sampled_from([(3, 17), (2, 25), (4, 33), (2, 22), (3, 5)]),
                            elements=st.floats(-0.5, 1.5) | st.sampled_from([np.nan, np.inf, -1.0, 1e308])
                            ).map(lambda a: a.tolist())),
       st.sampled_from([".json", ".npy", ".csv"]))
def test_fuzz_confidence_array(data, suffix):
    path = path_for("arr" + suffix)
    if suffix == ".npy":
        arr = np.asarray(data if isinstance(data, list) else [[0.5] * 17], dtype=object)
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            arr = np.ones((2, 17), np.complex64)  # a dtype the reader must refuse
        np.save(path, arr)
    elif suffix == ".csv":
        rows = data if isinstance(data, list) else [[data]]
        path.write_text("\n".join(",".join(map(str, r if isinstance(r, list) else [r])) for r in rows))
    else:
        path.write_text(dumps(data))
    _credibility(path, "array")


@pytest.mark.parametrize("fmt", ["coco17", "mediapipe33", "array", "auto"])
def test_deep_keypoint_json_is_one_line(fmt):
    path = path_for("deep_kp.json")
    for depth in (900, 100_000):
        path.write_text(nested(depth))
        assert refused_or_read(credibility_from_file, path, fmt) is None


# ---------------------------------------------------------------------------------------------
# Model config.json.
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from tests.helpers.tiny_model import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("fuzz_model") / "tiny")


@st.composite
def mutated_config(draw, base: dict):
    cfg = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(["pvae", "ropar", "sampling", None]))
        target = cfg if section is None else cfg.setdefault(section, {})
        if not isinstance(target, dict):
            break
        keys = sorted(target) or ["x"]
        key = draw(st.sampled_from(keys + ["unknown_key"]))
        target[key] = draw(JSON | NUMBERS)
    return draw(st.sampled_from([cfg, cfg, [cfg]]))


def test_fuzz_model_config(model_dir, tmp_path):
    from hypothesis import given as given_

    from ropar_core import checkpoint
    from ropar_core.modeldir import load_models

    base = json.loads((model_dir / "config.json").read_text())
    work = tmp_path / "m"
    shutil.copytree(model_dir, work)

    @FUZZ
    @given_(mutated_config(base))
    def check(cfg):
        (work / "config.json").write_text(dumps(cfg))
        refused_or_read(load_models, work)

    check()
    mean, std = checkpoint.load_stats(model_dir)
    for bad_std in (np.zeros(263), -np.ones(263), np.full(263, np.nan)):
        checkpoint.save_stats(work, mean, bad_std.astype(np.float32))
        (work / "config.json").write_text(json.dumps(base))
        assert refused_or_read(load_models, work) is None


# ---------------------------------------------------------------------------------------------
# What is not a regular file, output patterns, and prompt text.
def _special(kind: str) -> Path:
    import os

    base = path_for(f"special-{kind}")
    if not os.path.lexists(base):
        if kind == "fifo":
            os.mkfifo(base)
        elif kind == "device":
            base.symlink_to("/dev/zero")
        elif kind == "folder":
            base.mkdir()
        elif kind == "loop":
            base.symlink_to(base.name)
        elif kind == "dangling":
            base.symlink_to("nowhere")
    return base


@FUZZ
@given(st.sampled_from(["fifo", "device", "folder", "loop", "dangling", "missing"]),
       st.sampled_from([".json", ".npy", ".csv", ".bvh", ".npz", ""]),
       st.sampled_from(["motion", "coco17", "openpose25", "mediapipe33", "array", "text"]))
def test_fuzz_only_regular_files_are_read(kind, suffix, reader):
    """Through every reader: a FIFO (which would block), a device (endless), a folder, a symlink loop or
    a dangling link is one RoparError line, at once."""
    from ropar_core import limits
    from ropar_core.keypoints import read_keypoints

    special = _special(kind)
    path = special.with_name(special.name + suffix)
    if suffix and not path.is_symlink() and not path.exists():
        path.symlink_to(special.name)  # the same thing under a name with the reader's suffix
    if reader == "motion":
        result = refused_or_read(io.load_motion, path)
    elif reader == "text":
        result = refused_or_read(limits.read_text_file, path)
    else:
        result = refused_or_read(read_keypoints, path, reader)
    assert result is None or (kind == "folder" and reader == "openpose25")


@FUZZ
@given(st.text(max_size=30) | st.sampled_from(["{index:999999999d}", "{index:{seed}}", "{slug!r:>70}", "{0}",
                                                "{index.__class__}", "{}", "{index:_>64}", "{seed:,}"]))
def test_fuzz_output_patterns(pattern):
    """An --out pattern is refused as one line, or names every output with a bounded path, quickly."""
    from ropar_core.commands.generate import MAX_PATH_CHARS, OUT_SUFFIXES, Namer

    namer = refused_or_read(Namer, f"out/{pattern}.bvh", 3, OUT_SUFFIXES, ".bvh", "--out")
    if namer is not None:
        for i in range(3):
            path = refused_or_read(namer.path, i, 2**62 + i, "a person walks " * 20)
            assert path is None or len(str(path)) <= MAX_PATH_CHARS


@FUZZ
@given(st.text(st.characters(blacklist_categories=()), max_size=40))  # surrogates included
def test_fuzz_prompt_text(text):
    """A prompt is valid UTF-8 text once checked (the text encoder never sees a lone surrogate)."""
    from ropar_core.request import check_prompt

    checked = refused_or_read(check_prompt, text)
    if checked is not None:
        checked.encode("utf-8")
