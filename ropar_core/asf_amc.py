"""ASF/AMC, the CMU motion capture database's own format: an ASF skeleton, AMC frames, and their pose.

An ASF (Acclaim Skeleton File) gives each bone a direction and length in the world frame at rest, a
local frame (`axis`: Euler angles, in the order written after them) and the rotation channels the
AMC file animates (`dof`, with `limits`). Lengths are in the ASF's `:units length` scale of inches
(CMU writes 0.45: a file unit is 1/0.45 inch); angles in `:units angle` (deg or rad). An AMC file
lists, per frame, the root's channels in the ASF's `order` and each animated bone's `dof` values.

Posing (the Acclaim convention CMU's own viewer uses): with C the bone's axis rotation and M its dof
rotation (extrinsic, in dof order), the bone's world rotation is parent_world @ C @ M @ C^T, and the
bone ends `length` along that rotation applied to its rest `direction`. A bone's start is the joint
the CMU BVH conversions name (`CMU_BVH_NAMES`), so SMPL-22 comes out through `bone_maps.CMU_MAP`.
AMC files do not store a frame rate: it comes from the user or from the dataset's trial list
(`trial_fps`: TRIALS.tsv or CMU's `CMU data.csv`).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ropar_core import limits
from ropar_core.bone_maps import CMU_MAP, positions_to_smpl22
from ropar_core.errors import MotionFileError

INCH = 0.0254  # metres; an ASF length unit of `u` means the file's lengths are inches * u
MAX_ASF_BYTES = 4 * 2**20  # CMU's skeletons are about 10 kB
MAX_AMC_BYTES = 256 * 2**20  # CMU's longest trials (120 fps, minutes) are tens of MB
MAX_BONES = 256
MAX_FRAME_BONES = 4_000_000  # frames x bones, as bvh.MAX_FRAME_JOINTS: world matrices stay < 1 GB
ROTATION_DOFS = ("rx", "ry", "rz")
ROOT_CHANNELS = ("tx", "ty", "tz", "rx", "ry", "rz")
TRIAL_LISTS = ("TRIALS.tsv", "CMU data.csv")  # looked for beside the AMC and up to two folders above

# CMU's ASF bone -> the CMU BVH joint at that bone's start (the names bone_maps.CMU_MAP reads).
CMU_BVH_NAMES = {
    "root": "Hips", "lowerback": "LowerBack", "upperback": "Spine", "thorax": "Spine1",
    "lowerneck": "Neck", "upperneck": "Neck1", "head": "Head",
    **{f"{s}{bone}": name.format(side=side, s=s.upper())
       for s, side in (("l", "Left"), ("r", "Right"))
       for bone, name in (("hipjoint", "{s}HipJoint"), ("femur", "{side}UpLeg"), ("tibia", "{side}Leg"),
                          ("foot", "{side}Foot"), ("toes", "{side}ToeBase"), ("clavicle", "{side}Shoulder"),
                          ("humerus", "{side}Arm"), ("radius", "{side}ForeArm"), ("wrist", "{side}Hand"),
                          ("hand", "{side}FingerBase"), ("fingers", "{s}Fingers"), ("thumb", "{s}Thumb"))},
}


@dataclass
class Bone:
    name: str
    parent: int  # index into AsfSkeleton.bones; -1 for the root
    direction: np.ndarray  # (3,) unit vector, world frame at rest
    length: float  # ASF units
    axis: np.ndarray  # (3, 3) the bone's local frame C (world <- local)
    dofs: tuple[str, ...] = ()  # rotation channels in AMC order ("rx", "ry", "rz")
    limits: list[tuple[float, float]] = field(default_factory=list)  # per dof, in the ASF's angle unit


@dataclass
class AsfSkeleton:
    """A parsed ASF. bones[0] is the root (length 0); the rest in hierarchy order, parents first."""

    name: str
    bones: list[Bone]
    length_unit: float = 1.0  # `:units length`
    degrees: bool = True  # `:units angle`
    root_order: tuple[str, ...] = ROOT_CHANNELS
    root_position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    path: str = ""

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.bones]

    @property
    def metres_per_unit(self) -> float:
        return INCH / self.length_unit


@dataclass
class AmcMotion:
    """AMC frames: root channels (T, len(root_order)) and each animated bone's dof values (T, n)."""

    root: np.ndarray
    dofs: dict[str, np.ndarray]
    degrees: bool = True
    path: str = ""

    @property
    def frames(self) -> int:
        return len(self.root)


# Reading.
def _read_text(path: Path, limit: int, what: str) -> str:
    # regular files only, refused above `limit` before reading (limits.read_bytes)
    return limits.read_bytes(path, limit, f"{what} file").decode("utf-8", errors="replace")


def _numbers(words: list[str], count: int, where: str) -> np.ndarray:
    if len(words) != count:
        raise MotionFileError(f"{where}: expected {count} numbers, found {len(words)}")
    try:
        values = np.array([float(w) for w in words])
    except ValueError:
        raise MotionFileError(f"{where}: not a number in {' '.join(words)[:60]!r}") from None
    if not np.isfinite(values).all() or np.abs(values).max(initial=0) > limits.MAX_ABS_VALUE:
        raise MotionFileError(f"{where}: value out of range in {' '.join(words)[:60]!r}")
    return values


def _axis_matrix(angles: np.ndarray, order: str, degrees: bool, where: str) -> np.ndarray:
    if sorted(order.upper()) != ["X", "Y", "Z"]:
        raise MotionFileError(f"{where}: axis order must be a permutation of XYZ, got {order!r}")
    return Rotation.from_euler(order.lower(), angles, degrees=degrees).as_matrix()


def _sections(lines: list[str], name: str) -> dict[str, list[tuple[int, list[str]]]]:
    """':keyword' sections -> their (line number, words) lines; comments and blank lines dropped."""
    out: dict[str, list[tuple[int, list[str]]]] = {}
    current = None
    for n, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            words = line[1:].split()
            current = words[0].lower() if words else ""
            out.setdefault(current, [])
            if len(words) > 1:  # ":name VICON": the value on the keyword's own line
                out[current].append((n, words[1:]))
        elif current is None:
            raise MotionFileError(f"{name}:{n}: expected an ASF ':keyword' line, found {line[:40]!r}")
        else:
            out[current].append((n, line.split()))
    return out


def _read_units(items, name: str) -> tuple[float, bool]:
    length, degrees = 1.0, True
    for n, words in items:
        key = words[0].lower()
        if key == "length":
            length = float(_numbers(words[1:], 1, f"{name}:{n}")[0])
            if not length > 0:
                raise MotionFileError(f"{name}:{n}: units length must be positive, got {words[1]}")
        elif key == "angle":
            if len(words) != 2 or words[1].lower() not in ("deg", "rad"):
                raise MotionFileError(f"{name}:{n}: units angle must be deg or rad")
            degrees = words[1].lower() == "deg"
    return length, degrees


def _read_root(items, name: str, degrees: bool) -> tuple[Bone, tuple[str, ...], np.ndarray]:
    order, axis_order, position, orientation = ROOT_CHANNELS, "XYZ", np.zeros(3), np.zeros(3)
    for n, words in items:
        key, rest, where = words[0].lower(), words[1:], f"{name}:{n}"
        if key == "order":
            order = tuple(w.lower() for w in rest)
            if not order or len(set(order)) != len(order) or not set(order) <= set(ROOT_CHANNELS):
                raise MotionFileError(f"{where}: root order must list distinct TX TY TZ RX RY RZ, got "
                                      f"{' '.join(rest)[:40]!r}")
        elif key == "axis":
            axis_order = rest[0] if len(rest) == 1 else ""
        elif key == "position":
            position = _numbers(rest, 3, where)
        elif key == "orientation":
            orientation = _numbers(rest, 3, where)
    axis = _axis_matrix(orientation, axis_order, degrees, f"{name}: root axis")
    return Bone("root", -1, np.zeros(3), 0.0, axis), order, position


def _read_bone(block: list[tuple[int, list[str]]], name: str, degrees: bool) -> tuple[int, Bone]:
    fields: dict = {"dofs": (), "limits": []}
    first = block[0][0]
    k = 0
    while k < len(block):
        n, words = block[k]
        key, rest, where = words[0].lower(), words[1:], f"{name}:{n}"
        k += 1
        if key == "name" and len(rest) == 1:
            fields["name"] = rest[0]
        elif key == "direction":
            fields["direction"] = _numbers(rest, 3, where)
        elif key == "length":
            fields["length"] = float(_numbers(rest, 1, where)[0])
        elif key == "axis":
            fields["axis"] = _axis_matrix(_numbers(rest[:3], 3, where), "".join(rest[3:]), degrees, where)
        elif key == "dof":
            fields["dofs"] = tuple(w.lower() for w in rest)
        elif key == "limits":  # one "(lo hi)" per dof, possibly over several lines
            text = " ".join(rest)
            while k < len(block) and block[k][1][0].startswith("("):
                text += " " + " ".join(block[k][1])
                k += 1
            pairs = re.findall(r"\(\s*(\S+)\s+(\S+?)\s*\)", text)
            try:
                fields["limits"] = [(float(a), float(b)) for a, b in pairs]
            except ValueError:
                raise MotionFileError(f"{where}: limits must be '(low high)' numbers") from None
    missing = [f for f in ("name", "direction", "length", "axis") if f not in fields]
    if missing:
        raise MotionFileError(f"{name}:{first}: bone has no {', '.join(missing)}")
    bone_name, dofs = fields["name"], fields["dofs"]
    bad = [d for d in dofs if d not in ROTATION_DOFS]
    if bad or len(set(dofs)) != len(dofs):
        raise MotionFileError(f"{name}: bone {bone_name}: dof {' '.join(dofs)!r} not supported (distinct rx "
                              "ry rz only; translation and length channels on bones are not read)")
    if fields["limits"] and len(fields["limits"]) != len(dofs):
        raise MotionFileError(f"{name}: bone {bone_name}: {len(fields['limits'])} limits for "
                              f"{len(dofs)} dofs")
    norm = float(np.linalg.norm(fields["direction"]))
    if not norm > 0 or not fields["length"] >= 0:
        raise MotionFileError(f"{name}: bone {bone_name}: zero direction or negative length")
    return first, Bone(bone_name, -2, fields["direction"] / norm, fields["length"], fields["axis"], dofs,
                       fields["limits"])


def _bone_blocks(items, name: str) -> list[list[tuple[int, list[str]]]]:
    blocks, current = [], None
    for n, words in items:
        key = words[0].lower()
        if key == "begin":
            if current is not None:
                raise MotionFileError(f"{name}:{n}: 'begin' inside a bone (missing 'end')")
            current = []
        elif key == "end":
            if not current:
                raise MotionFileError(f"{name}:{n}: 'end' without a bone")
            blocks.append(current)
            current = None
        elif current is None:
            raise MotionFileError(f"{name}:{n}: expected 'begin' of a bone, found {words[0][:30]!r}")
        else:
            current.append((n, words))
    if current is not None:
        raise MotionFileError(f"{name}: the last bone has no 'end'")
    return blocks


def _order_bones(root: Bone, bones: dict[str, Bone], items, name: str) -> list[Bone]:
    """Parents from :hierarchy; bones ordered parents first (breadth first from the root)."""
    children: dict[str, list[str]] = {}
    seen: set[str] = set()
    for n, words in items:
        if words[0].lower() in ("begin", "end"):
            continue
        parent, kids = words[0], words[1:]
        for kid in kids:
            if kid not in bones:
                raise MotionFileError(f"{name}:{n}: hierarchy names an unknown bone {kid[:40]!r}")
            if kid in seen:
                raise MotionFileError(f"{name}:{n}: bone {kid} has two parents")
            seen.add(kid)
        if parent != "root" and parent not in bones:
            raise MotionFileError(f"{name}:{n}: hierarchy names an unknown bone {parent[:40]!r}")
        children.setdefault(parent, []).extend(kids)
    ordered, queue = [root], ["root"]
    while queue:
        parent = queue.pop(0)
        for kid in children.get(parent, []):
            bones[kid].parent = next(i for i, b in enumerate(ordered) if b.name == parent)
            ordered.append(bones[kid])
            queue.append(kid)
    orphans = sorted(set(bones) - {b.name for b in ordered})
    if orphans:
        raise MotionFileError(f"{name}: bones not connected to the root: {', '.join(orphans[:5])}")
    return ordered


def read_asf(path: str | Path) -> AsfSkeleton:
    """Parse an ASF skeleton (units, root, bones with axis/dof/limits, hierarchy)."""
    path = Path(path)
    text = _read_text(path, MAX_ASF_BYTES, "ASF")
    sections = _sections(text.splitlines(), path.name)
    for needed in ("root", "bonedata", "hierarchy"):
        if needed not in sections:
            raise MotionFileError(f"{path.name}: not an ASF skeleton (no :{needed} section)")
    length_unit, degrees = _read_units(sections.get("units", []), path.name)
    root, order, position = _read_root(sections["root"], path.name, degrees)
    blocks = _bone_blocks(sections["bonedata"], path.name)
    if not blocks or len(blocks) > MAX_BONES:
        raise MotionFileError(f"{path.name}: {len(blocks)} bones; an ASF needs 1 to {MAX_BONES}")
    bones: dict[str, Bone] = {}
    for block in blocks:
        line, bone = _read_bone(block, path.name, degrees)
        if bone.name in bones or bone.name == "root":
            raise MotionFileError(f"{path.name}:{line}: bone {bone.name} defined twice")
        bones[bone.name] = bone
    name = " ".join(w for _, words in sections.get("name", []) for w in words) or path.stem
    return AsfSkeleton(name, _order_bones(root, bones, sections["hierarchy"], path.name), length_unit,
                       degrees, order, position, str(path))


def read_amc(path: str | Path, skeleton: AsfSkeleton) -> AmcMotion:
    """Parse AMC frames for `skeleton`: every frame numbered in sequence, every animated bone once."""
    path = Path(path)
    name = path.name
    text = _read_text(path, MAX_AMC_BYTES, "AMC")
    counts = {"root": len(skeleton.root_order), **{b.name: len(b.dofs) for b in skeleton.bones[1:] if b.dofs}}
    max_frames = min(limits.MAX_MOTION_FRAMES, MAX_FRAME_BONES // len(skeleton.bones))
    values: dict[str, list[list[str]]] = {bone: [] for bone in counts}
    degrees, frame, frame_line = skeleton.degrees, 0, 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(":"):
            word = line[1:].split()[0].upper() if line[1:].split() else ""
            if frame:
                raise MotionFileError(f"{name}:{n}: header line {line[:30]!r} after the first frame")
            degrees = {"DEGREES": True, "RADIANS": False}.get(word, degrees)
            continue
        words = line.split()
        if len(words) == 1 and words[0].isdigit():
            _check_frame(values, frame, frame_line, name)
            if int(words[0]) != frame + 1:
                raise MotionFileError(f"{name}:{n}: frame {words[0]} follows frame {frame} (frames must be "
                                      "numbered 1, 2, 3, ...)")
            frame, frame_line = frame + 1, n
            if frame > max_frames:
                raise MotionFileError(f"{name}: more than {max_frames} frames for a "
                                      f"{len(skeleton.bones)}-bone skeleton")
            continue
        if not frame:
            raise MotionFileError(f"{name}:{n}: expected a frame number, found {line[:40]!r}")
        bone, rest = words[0], words[1:]
        if bone not in counts:
            raise MotionFileError(f"{name}:{n}: bone {bone[:40]!r} is not animated by "
                                  f"{Path(skeleton.path).name}")
        if len(values[bone]) == frame:
            raise MotionFileError(f"{name}:{n}: bone {bone} appears twice in frame {frame}")
        if len(rest) != counts[bone]:
            raise MotionFileError(f"{name}:{n}: bone {bone} has {len(rest)} values; its dofs need "
                                  f"{counts[bone]}")
        values[bone].append(rest)
    _check_frame(values, frame, frame_line, name)
    if not frame:
        raise MotionFileError(f"{name}: no frames (not an AMC file?)")
    arrays = {}
    for bone, rows in values.items():
        try:
            arr = np.array(rows, dtype=np.float64).reshape(frame, counts[bone])
        except ValueError:
            raise MotionFileError(f"{name}: a value of bone {bone} is not a number") from None
        if not np.isfinite(arr).all() or np.abs(arr).max(initial=0) > limits.MAX_ABS_VALUE:
            raise MotionFileError(f"{name}: bone {bone} has values that are not finite or out of range")
        arrays[bone] = arr
    root = arrays.pop("root")
    return AmcMotion(root, arrays, degrees, str(path))


def _check_frame(values: dict, frame: int, line: int, name: str) -> None:
    missing = [bone for bone, rows in values.items() if len(rows) != frame]
    if frame and missing:
        raise MotionFileError(f"{name}:{line}: frame {frame} has no line for {', '.join(missing[:5])}")


# Forward kinematics and SMPL-22.
def _dof_rotation(seq: str, values: np.ndarray, degrees: bool) -> np.ndarray:
    """(T, n) angles of extrinsic axes `seq` -> (T, 3, 3); the identity when the bone has no dofs."""
    if not seq:
        return np.broadcast_to(np.eye(3), (len(values), 3, 3))
    return Rotation.from_euler(seq, values, degrees=degrees).as_matrix()


def forward_kinematics(skeleton: AsfSkeleton, motion: AmcMotion) -> np.ndarray:
    """(T, B, 3) world positions in ASF units: index 0 the root, index b > 0 the END of bone b (a bone
    starts where its parent ends)."""
    T, B = motion.frames, len(skeleton.bones)
    order = skeleton.root_order
    root_rot = [i for i, c in enumerate(order) if c in ROTATION_DOFS]
    trans = np.zeros((T, 3))
    for i, c in enumerate(order):
        if c.startswith("t"):
            trans[:, "xyz".index(c[1])] = motion.root[:, i]
    world = np.empty((T, B, 3, 3))
    ends = np.empty((T, B, 3))
    rootb = skeleton.bones[0]
    m = _dof_rotation("".join(order[i][1] for i in root_rot), motion.root[:, root_rot], motion.degrees)
    world[:, 0] = rootb.axis @ m @ rootb.axis.T
    ends[:, 0] = skeleton.root_position + trans
    for b, bone in enumerate(skeleton.bones[1:], 1):
        values = motion.dofs.get(bone.name, np.zeros((T, 0)))
        m = _dof_rotation("".join(d[1] for d in bone.dofs), values, motion.degrees)
        world[:, b] = world[:, bone.parent] @ (bone.axis @ m @ bone.axis.T)
        ends[:, b] = ends[:, bone.parent] + bone.length * (world[:, b] @ bone.direction)
    return ends


def bone_starts(skeleton: AsfSkeleton, ends: np.ndarray) -> np.ndarray:
    """Bone end positions (forward_kinematics) -> each bone's start (the root's own position for it)."""
    parents = np.array([max(b.parent, 0) for b in skeleton.bones])
    return ends[:, parents]


def amc_to_smpl22(skeleton: AsfSkeleton, motion: AmcMotion, scale: float | None = None) -> np.ndarray:
    """(T, 22, 3) float32 SMPL-22 joints in metres, Y up. `scale`: metres per ASF unit (default from
    the ASF's units: an inch times 1 / `:units length`). Needs CMU's bone names (CMU_BVH_NAMES)."""
    unknown = [n for n in CMU_BVH_NAMES if n not in skeleton.names]
    if unknown:
        raise MotionFileError(f"{Path(skeleton.path).name}: not a CMU skeleton: no bone "
                              f"{', '.join(unknown[:6])}")
    names = [CMU_BVH_NAMES.get(n, n) for n in skeleton.names]
    starts = bone_starts(skeleton, forward_kinematics(skeleton, motion))
    return positions_to_smpl22(names, starts, CMU_MAP, skeleton.metres_per_unit if scale is None else scale,
                               Path(motion.path).name)


# Finding the skeleton and the frame rate of an AMC file.
_TRIAL_RE = re.compile(r"^(?P<subject>\d+)_(?P<trial>\d+)$")


def find_asf(amc_path: str | Path) -> Path:
    """The subject's skeleton beside an AMC: `<subject>.asf` for `<subject>_<trial>.amc`, else the one
    .asf in the folder."""
    amc_path = Path(amc_path)
    m = _TRIAL_RE.match(amc_path.stem)
    if m:
        for cand in (f"{m['subject']}.asf", f"{int(m['subject']):02d}.asf"):
            if (amc_path.parent / cand).is_file():
                return amc_path.parent / cand
    found = sorted(amc_path.parent.glob("*.asf"))
    if len(found) == 1:
        return found[0]
    how_many = "several" if found else "no"
    raise MotionFileError(f"{amc_path.name}: no skeleton found beside it ({how_many} .asf files there); pass "
                          "--asf FILE")


# TRIAL_LISTS' columns: (delimiter, subject, trial, frame rate)
_LIST_COLUMNS = {"TRIALS.tsv": ("\t", "subject", "trial", "fps"),
                 "CMU data.csv": (",", "Subject", "Trial #", "framerate")}


def _listed_fps(path: Path, subject: int, trial: int) -> float | None:
    delimiter, subject_col, trial_col, fps_col = _LIST_COLUMNS[path.name]
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for row in csv.DictReader(f, delimiter=delimiter):
            try:
                if int(row[subject_col]) == subject and int(row[trial_col]) == trial:
                    return float(row[fps_col])
            except (KeyError, TypeError, ValueError):
                continue
    return None


def trial_fps(amc_path: str | Path) -> tuple[float, Path] | None:
    """(frame rate, the list it came from) of a CMU trial `<subject>_<trial>.amc`, from TRIALS.tsv or
    `CMU data.csv` beside it or up to two folders above; None when no list names it."""
    amc_path = Path(amc_path).resolve()
    m = _TRIAL_RE.match(amc_path.stem)
    if not m:
        return None
    subject, trial = int(m["subject"]), int(m["trial"])
    for folder in (amc_path.parent, *list(amc_path.parents)[1:3]):
        for list_name in TRIAL_LISTS:
            path = folder / list_name
            if path.is_file() and path.stat().st_size <= limits.MAX_JSON_BYTES:
                fps = _listed_fps(path, subject, trial)
                if fps is not None and math.isfinite(fps):
                    return limits.check_fps(fps, f"{path.name}: frame rate of {amc_path.stem}",
                                            MotionFileError), path
    return None


def load_amc(amc_path: str | Path, asf_path: str | Path | None = None, fps: float | None = None,
             scale: float | None = None) -> tuple[np.ndarray, float]:
    """An AMC file (and its ASF, found beside it unless given) -> ((T, 22, 3) metres Y up, frame rate).
    The frame rate is `fps`, else the trial list's (trial_fps); one of them must say it."""
    amc_path = Path(amc_path)
    if fps is None:
        found = trial_fps(amc_path)
        if found is None:
            raise MotionFileError(f"{amc_path.name}: AMC files do not store a frame rate and no "
                                  f"{' or '.join(TRIAL_LISTS)} lists this trial; give it (e.g. --in-fps 120, "
                                  "CMU's usual rate)")
        fps = found[0]
    fps = limits.check_fps(fps, "AMC frame rate", MotionFileError)
    skeleton = read_asf(find_asf(amc_path) if asf_path is None else asf_path)
    return amc_to_smpl22(skeleton, read_amc(amc_path, skeleton), scale), fps
