"""Bandai-Namco-Research-Motiondataset-2 -> `Clip` records.

The folder holds `dataset-2_<content>_<style>_<take>.bvh` files (centimetres, 30 fps, 6 channels per
joint), each with a `.json` beside it holding `{"content": i, "style": j}` (indices into
`cfg/content_label.txt` and `cfg/style_label.txt`). The file names do not say which of the studio's
actors performed a take, so every clip gets the subject "bandai2" and the split is decided by take id
instead (see `bandai_split`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ropar_core import features
from ropar_core.bone_maps import bvh_to_smpl22
from ropar_core.bvh import read_bvh
from ropar_core.errors import MotionFileError, RoparError
from ropar_core.resample import resample
from ropar_core.skeleton import FPS
from training.data.captions import CONTENTS, STYLES, make_captions
from training.data.importers import Clip

SOURCE = "bandai2"
SUBJECT = "bandai2"  # the actor is not recorded per file
NAME_RE = re.compile(r"^dataset-2_(?P<content>[a-z-]+)_(?P<style>[a-z]+)_(?P<take>\d+)$")
TAKE_GROUPS = 10  # take ids are grouped by their last digit


@dataclass(frozen=True)
class BandaiName:
    content: str
    style: str
    take: int

    @property
    def pair(self) -> str:
        return f"{self.content}_{self.style}"


def parse_name(path: str | Path) -> BandaiName:
    """`.../dataset-2_walk-turn-left_elderly_017.bvh` -> BandaiName('walk-turn-left', 'elderly', 17)."""
    stem = Path(path).stem
    m = NAME_RE.match(stem)
    if not m or m["content"] not in CONTENTS or m["style"] not in STYLES:
        raise MotionFileError(f"{Path(path).name}: not a Bandai dataset-2 name "
                              f"(expected dataset-2_<content>_<style>_<take>.bvh)")
    return BandaiName(m["content"], m["style"], int(m["take"]))


def check_labels(bvh_path: Path, name: BandaiName) -> None:
    """The JSON beside a BVH must agree with the file name (a renamed file would get wrong captions)."""
    json_path = bvh_path.with_suffix(".json")
    if not json_path.exists():
        return  # the name alone is enough; the JSON is a cross-check
    try:
        labels = json.loads(json_path.read_text(encoding="utf-8"))
        content, style = CONTENTS[int(labels["content"])], STYLES[int(labels["style"])]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise MotionFileError(f"{json_path.name}: not a Bandai label file ({exc})") from None
    if (content, style) != (name.content, name.style):
        raise MotionFileError(f"{json_path.name}: labels say {content}/{style} but the file name says "
                              f"{name.content}/{name.style}")


def find_data_dir(root: str | Path) -> Path:
    """The folder that holds the BVH files: `root` itself, `root/data`, or one level further down
    (an unpacked archive: `root/Bandai-Namco-Research-Motiondataset-2/data`)."""
    root = Path(root)
    for cand in (root, root / "data", *sorted(root.glob("*/data")), *sorted(root.glob("*/*/data"))):
        if cand.is_dir() and any(cand.glob("dataset-2_*.bvh")):
            return cand
    raise RoparError(f"{root}: no Bandai dataset-2 BVH files (dataset-2_*.bvh) there or in a data/ folder")


def list_bvh(data_dir: str | Path, limit: int | None = None) -> list[Path]:
    """Sorted Bandai BVH paths; with `limit`, a deterministic spread (round-robin over the content x
    style pairs) rather than the first N alphabetically."""
    paths = sorted(Path(data_dir).glob("dataset-2_*.bvh"))
    if not paths:
        raise RoparError(f"{data_dir}: no dataset-2_*.bvh files")
    if limit is None or limit >= len(paths):
        return paths
    by_pair: dict[str, list[Path]] = {}
    for p in paths:
        by_pair.setdefault(parse_name(p).pair, []).append(p)
    picked: list[Path] = []
    def hashed(text: str) -> bytes:
        return hashlib.sha256(text.encode()).digest()

    # Pairs and takes in hashed orders: a small subset covers many contents, styles and take groups
    # (hence all three splits) and stays the same from run to run.
    pairs = sorted(by_pair, key=hashed)
    queues = [sorted(by_pair[pair], key=lambda p: hashed(p.name)) for pair in pairs]
    while len(picked) < limit:
        for q in queues:
            if q and len(picked) < limit:
                picked.append(q.pop(0))
    return sorted(picked)


def take_group_splits(takes, seed: int = 0) -> dict[int, str]:
    """Decide train / val / test per take-id group (the take's last digit).

    `takes` are the take ids of the whole folder (not of a --limit subset, so a take keeps its split
    however many files are imported). The groups that occur are put in a seeded order; the first goes
    to test, the second to val, the rest to train: ~80/10/10 of the clips, because every content x
    style pair has takes spread over all digits. This release lacks every take ending in 3 (the held
    back part), which is why the groups are taken from the data rather than assumed. A take id lands in
    one split for every content and style, so takes recorded together never straddle two splits."""
    groups = sorted({int(t) % TAKE_GROUPS for t in takes})
    order = sorted(groups, key=lambda g: hashlib.sha256(f"{seed}:bandai-take-group:{g}".encode()).digest())
    if len(order) < 3:  # too few groups for three splits: train on everything
        return {g: "train" for g in groups}
    return {g: ("test" if i == 0 else "val" if i == 1 else "train") for i, g in enumerate(order)}


def split_of(take: int, group_splits: dict[int, str]) -> str:
    group = take % TAKE_GROUPS
    if group not in group_splits:
        raise RoparError(f"take {take}: its group {group} was not among the takes the split was decided on")
    return group_splits[group]


def clip_id(path: str | Path) -> str:
    return Path(path).stem


def bvh_to_features(path: str | Path) -> np.ndarray:
    """One BVH file -> (T, 263) float32 HumanML3D features at 20 fps."""
    bvh = read_bvh(path)
    joints, fps = bvh_to_smpl22(bvh)  # (T, 22, 3) metres, Y up
    joints = resample(joints, fps, FPS)
    if len(joints) < 3:
        raise MotionFileError(f"{Path(path).name}: only {len(joints)} frames at {FPS} fps")
    return features.joints_to_features(joints)


def make_clip(path: str | Path, feats: np.ndarray, group_splits: dict[int, str], seed: int = 0,
              num_captions: int = 4) -> Clip:
    """Wrap already computed features of one Bandai file into a Clip (captions, split, labels)."""
    name = parse_name(path)
    cid = clip_id(path)
    split = split_of(name.take, group_splits)
    return Clip(
        id=cid, features=feats, texts=make_captions(name.content, name.style, cid, num_captions, seed),
        source=SOURCE, subject=SUBJECT, split_key=f"{SOURCE}/take-group-{name.take % TAKE_GROUPS}",
        meta={"content": name.content, "style": name.style, "take": name.take, "split": split,
              "file": Path(path).name},
    )


def load_clip(path: str | Path, group_splits: dict[int, str], seed: int = 0, num_captions: int = 4) -> Clip:
    """One Bandai BVH file -> Clip (features at 20 fps, captions, split in meta['split'])."""
    path = Path(path)
    check_labels(path, parse_name(path))
    return make_clip(path, bvh_to_features(path), group_splits, seed, num_captions)


def load_folder(data_dir: str | Path, seed: int = 0, limit: int | None = None,
                num_captions: int = 4) -> list[Clip]:
    """Every (or `limit`) Bandai clip of a folder, in one process (the prepare step parallelises)."""
    all_paths = list_bvh(data_dir)
    splits = take_group_splits([parse_name(p).take for p in all_paths], seed)
    return [load_clip(p, splits, seed, num_captions) for p in list_bvh(data_dir, limit)]
