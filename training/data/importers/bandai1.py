"""Bandai-Namco-Research-Motiondataset-1 -> `Clip` records.

Same rig and units as dataset-2 (`training.importers.bandai` reads the BVH), but other names:
`dataset-1_<content>_<style>_<take>.bvh` with 17 contents (walk back / left / right, dash, bow, bye,
guide, punch, kick, dance, ...) and 15 styles; the JSON beside each file holds indices into
`cfg/content_label.txt` / `cfg/style_label.txt`, whose lines carry a `dataset-1_` prefix. Every
content x style pair has one take, so the split is decided per take, and contents recorded only once
(call, punch, kick, slash, the dances: normal style only) always stay in train.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ropar_core.errors import MotionFileError, RoparError
from training.data.captions import ACTIONS, STYLE_ADVERBS, make_captions
from training.data.importers import Clip, assign_split, find_release
from training.data.importers.bandai import bvh_to_features

SOURCE = "bandai1"
LICENCE = "Bandai-Namco-Research-Motiondataset-1 (CC BY-NC 4.0)"
NAME_RE = re.compile(r"^dataset-1_(?P<content>[a-z-]+)_(?P<style>[a-z-]+?)_(?P<take>\d+)$")
MIN_TAKES_TO_SPLIT = 5


@dataclass(frozen=True)
class Bandai1Name:
    content: str
    style: str
    take: int


def parse_name(path: str | Path) -> Bandai1Name:
    """`dataset-1_walk-back_not-confident_001.bvh` -> Bandai1Name('walk-back', 'not-confident', 1)."""
    m = NAME_RE.match(Path(path).stem)
    if not m or m["content"] not in ACTIONS or m["style"] not in STYLE_ADVERBS:
        raise MotionFileError(
            f"{Path(path).name}: not a Bandai dataset-1 name "
            f"(expected dataset-1_<content>_<style>_<take>.bvh with known labels)"
        )
    return Bandai1Name(m["content"], m["style"], int(m["take"]))


def read_labels(cfg_dir: str | Path) -> tuple[list[str], list[str]]:
    """(contents, styles) in index order, without the `dataset-1_` prefix."""
    out = []
    for name in ("content_label.txt", "style_label.txt"):
        path = Path(cfg_dir) / name
        if not path.is_file():
            raise RoparError(f"{path}: label file not found")
        out.append(
            [ln.strip().removeprefix("dataset-1_") for ln in path.read_text().splitlines() if ln.strip()]
        )
    return out[0], out[1]


def check_labels(bvh_path: Path, name: Bandai1Name, labels: tuple[list[str], list[str]]) -> None:
    """The JSON beside a BVH must agree with its file name (a renamed file would get wrong captions)."""
    json_path = bvh_path.with_suffix(".json")
    if not json_path.exists():
        return
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
        content, style = labels[0][int(data["content"])], labels[1][int(data["style"])]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise MotionFileError(f"{json_path.name}: not a Bandai label file ({exc})") from None
    if (content, style) != (name.content, name.style):
        raise MotionFileError(
            f"{json_path.name}: labels say {content}/{style} but the file name says "
            f"{name.content}/{name.style}"
        )


def find_root(root: str | Path) -> Path:
    """The release folder (holding data/ and cfg/): `root` itself or one level down."""
    return find_release(root, lambda d: (d / "cfg").is_dir() and any((d / "data").glob("dataset-1_*.bvh")),
                        "Bandai dataset-1 release (data/dataset-1_*.bvh and cfg/)")


def split_for(name: Bandai1Name, content_takes: int, seed: int = 0) -> str:
    key = f"{SOURCE}/{name.content}_{name.style}_{name.take:03d}"
    return "train" if content_takes < MIN_TAKES_TO_SPLIT else assign_split(key, seed=seed)


def make_clip(path: Path, feats: np.ndarray, split: str, seed: int = 0, num_captions: int = 4) -> Clip:
    name = parse_name(path)
    return Clip(
        id=path.stem,
        features=feats,
        texts=make_captions(name.content, name.style, path.stem, num_captions, seed),
        source=SOURCE,
        subject=SOURCE,
        split_key=f"{SOURCE}/{path.stem}",
        meta={
            "content": name.content,
            "style": name.style,
            "take": name.take,
            "split": split,
            "file": path.name,
        },
    )


def load_folder(root: str | Path, seed: int = 0, num_captions: int = 4) -> list[Clip]:
    root = find_root(root)
    labels = read_labels(root / "cfg")
    paths = sorted((root / "data").glob("dataset-1_*.bvh"))
    names = {p: parse_name(p) for p in paths}
    counts: dict[str, int] = {}
    for n in names.values():
        counts[n.content] = counts.get(n.content, 0) + 1
    clips = []
    for p in paths:
        check_labels(p, names[p], labels)
        split = split_for(names[p], counts[names[p].content], seed)
        clips.append(make_clip(p, bvh_to_features(p), split, seed, num_captions))
    return clips
