"""The one way to import a folder (or file) of motion: a `BuildSpec` says what to import and how, a
per-source plan lists the inputs up front (cheap), and `iter_clips` imports them one by one through the
importers (training/data/importers/), re-deciding splits and honouring --limit / --skip-bad.

`build_cache` writes what `iter_clips` yields into a cache; `import_clips(spec)` returns it as a list.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ropar_core.bone_maps import BONE_MAPS
from ropar_core.credibility import DEFAULT_TAU
from ropar_core.errors import MotionFileError, RoparError
from training.data.importers import (
    Clip,
    amass,
    assign_split,
    bvh_folder,
    captions_for,
    cmu_asf_amc,
    cmu_dance,
    cmu_iclone,
    deepmimic,
    reactidle,
    read_captions,
    wham,
)
from training.data.importers import humanml3d as h3d

# The shared data sets each have a source too; "open" is every commercial-use one found under --input.
SOURCES = ("bvh", "humanml3d", "amass", "wham", "cmu-asf-amc", "cmu-dance", "reactidle", "cmu-iclone",
           "deepmimic", "open")
KEYPOINT_NAMES = ("keypoints.json", "keypoints.npy", "keypoints.csv", "keypoints")
MASK_NAME = "credibility.json"
CAPTION_NAME = "caption.txt"
WHAM_PICKLES = ("wham_output.pkl", "wham_output.pth")


@dataclass
class BuildSpec:
    """What to import and how (the fields are build_cache's flags). captions: a caption file or a ready
    {file: [captions]} dict; bone_map: a known map name, a bone-map JSON path or a dict."""

    source: str
    input: Path
    out: Path | None = None  # the cache folder (build_cache only)
    captions: str | Path | dict | None = None
    bone_map: str | Path | dict | None = None
    smpl_models: str | Path | None = None
    keypoints: str | Path | None = None
    keypoint_format: str = "auto"
    text: tuple[str, ...] = ()
    tau: float = DEFAULT_TAU
    fps: float | None = None
    trust_pickle: bool = False
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int = 0
    limit: int | None = None
    skip_bad: bool = False
    allow_uncaptioned: bool = False
    name: str | None = None  # cache name in meta.json (default <source>-<out folder name>)
    quiet: bool = False  # no progress bar

    def __post_init__(self):
        self.input = Path(self.input)
        self.out = None if self.out is None else Path(self.out)
        self.text = tuple(self.text or ())
        self.splits = tuple(float(s) for s in self.splits)

    def check(self) -> None:
        """One-line errors for inputs that cannot work, before anything is read."""
        if self.source not in SOURCES:
            raise RoparError(f"unknown source {self.source!r}; choose from {', '.join(SOURCES)}")
        if not Path(self.input).exists():
            raise RoparError(f"{self.input}: no such file or folder")
        if self.limit is not None and self.limit < 1:
            raise RoparError(f"--limit must be positive, got {self.limit}")
        if not 0.0 <= self.tau < 1.0:
            raise RoparError(f"--tau must be in [0, 1), got {self.tau}")
        if self.fps is not None and not self.fps > 0:
            raise RoparError(f"--fps must be positive, got {self.fps}")
        wrong = [flag for flag, value, ok in (
            ("--bone-map", self.bone_map, ("bvh",)), ("--keypoints", self.keypoints, ("wham",)),
            ("--text", self.text, ("wham",)), ("--smpl-models", self.smpl_models, ("amass", "wham")),
            ("--captions", self.captions, ("bvh", "humanml3d", "amass", "wham")),  # the shared sets caption
            ("--fps", self.fps, ("bvh", "humanml3d", "amass", "wham")),  # themselves, with their own rates
        ) if value and self.source not in ok]
        if wrong:
            raise RoparError(f"{', '.join(wrong)} does not apply to --source {self.source}")


@dataclass
class Job:
    """One input unit (a file, a motion id, a video folder) and how to turn it into clips."""

    label: str
    load: Callable[[], list[Clip]]


@dataclass
class Plan:
    jobs: list[Job]
    notes: list[str]  # things the summary should mention (files skipped before importing, ...)
    keep_split: Callable[[Clip], bool] = lambda clip: False  # an official split file fixed this clip's split


# ---------------------------------------------------------------------------------------------
# Per-source plans: list the inputs up front (cheap), import them one by one later.


def _captions(spec: BuildSpec) -> dict[str, list[str]] | None:
    if spec.captions is None or isinstance(spec.captions, dict):
        return spec.captions
    return read_captions(spec.captions)


def _uncaptioned_error(root: Path, names: list[str]) -> RoparError:
    return RoparError(f"{root}: {len(names)} inputs have no caption (e.g. {', '.join(names[:3])}); add "
                      "them to the captions or pass --allow-uncaptioned to skip them")


def plan_bvh(spec: BuildSpec) -> Plan:
    root = Path(spec.input)
    if not root.is_dir():
        raise RoparError(f"{root}: --source bvh needs a folder of .bvh files")
    if spec.captions is None:
        raise RoparError("--source bvh needs --captions FILE (CSV 'file,caption' rows or JSON "
                         "{file: captions})")
    paths = sorted(root.rglob("*.bvh"), key=lambda p: p.relative_to(root).as_posix())
    if not paths:
        raise RoparError(f"{root}: no .bvh files")
    caps = _captions(spec)
    bone_map = spec.bone_map
    if isinstance(bone_map, (str, Path)) and str(bone_map) not in BONE_MAPS:
        bone_map = bvh_folder.load_bone_map(bone_map)
    rels = [p.relative_to(root) for p in paths]
    missing = [r.as_posix() for r in rels if not captions_for(caps, r)]
    if missing and not spec.allow_uncaptioned:
        raise _uncaptioned_error(root, missing)
    def load(path: Path, rel: Path) -> list[Clip]:
        return [bvh_folder.load_bvh_clip(path, root, captions_for(caps, rel), bone_map)]

    jobs = [Job(r.as_posix(), lambda p=p, r=r: load(p, r))
            for p, r in zip(paths, rels) if captions_for(caps, r)]
    notes = [f"{len(missing)} BVH files without a caption skipped"] if missing else []
    return Plan(jobs, notes)


def plan_humanml3d(spec: BuildSpec) -> Plan:
    root = Path(spec.input)
    vec_dir, txt_dir = root / "new_joint_vecs", root / "texts"
    if not vec_dir.is_dir() or not txt_dir.is_dir():
        raise RoparError(f"{root}: not a HumanML3D folder (needs new_joint_vecs/ and texts/)")
    official = h3d.read_split_files(root)  # {id: split} from train/val/test.txt when present
    ids = sorted(p.stem for p in vec_dir.glob("*.npy"))
    if not ids:
        raise RoparError(f"{root}: no motions (new_joint_vecs/*.npy)")
    have_text = [i for i in ids if (txt_dir / f"{i}.txt").exists()]

    def load(motion_id: str) -> list[Clip]:
        captions = h3d.parse_text_file(txt_dir / f"{motion_id}.txt")
        feats = h3d.load_vecs(vec_dir / f"{motion_id}.npy")  # (T, 263)
        return h3d.clips_for_motion(motion_id, feats, captions, official.get(motion_id))

    lost = len(ids) - len(have_text)
    notes = [f"{lost} motions without texts/<id>.txt skipped"] if lost else []
    if official:
        notes.append("splits from the official train/val/test.txt lists")
    return Plan([Job(i, lambda i=i: load(i)) for i in have_text], notes,
                keep_split=lambda clip: clip.meta.get("motion_id") in official)


def plan_amass(spec: BuildSpec) -> Plan:
    if spec.smpl_models is None:
        raise RoparError("--source amass needs --smpl-models DIR (your SMPL / SMPL+H / SMPL-X model files)")
    root = Path(spec.input)
    if root.is_file():
        paths, root = [root], root.parent
    elif root.is_dir():
        paths = sorted((p for p in root.rglob("*.npz") if amass.is_motion_file(p)),
                       key=lambda p: p.relative_to(root).as_posix())
    else:
        raise RoparError(f"{root}: no such file or folder")
    if not paths:
        raise RoparError(f"{root}: no AMASS motion .npz files (with a 'poses' array)")
    caps = _captions(spec)
    models = amass.ModelCache(spec.smpl_models, None, spec.trust_pickle)
    rels = [p.relative_to(root) for p in paths]
    if caps is None:  # motion-only clips: enough for the P-VAE, not for RoPAR's text conditioning
        keep, notes = list(zip(paths, rels)), ["no --captions: clips carry no text (P-VAE training only)"]
    else:
        keep = [(p, r) for p, r in zip(paths, rels) if captions_for(caps, r)]
        lost = len(paths) - len(keep)
        notes = [f"{lost} files without a caption skipped"] if lost else []
    jobs = [Job(r.as_posix(), lambda p=p, r=r: [amass.load_amass_clip(
        p, root, models, None if caps is None else captions_for(caps, r), spec.fps)]) for p, r in keep]
    return Plan(jobs, notes)


def _one_file(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).exists()), None)


def video_files(folder: Path, trust_pickle: bool) -> tuple[Path, Path]:
    """A video folder -> (WHAM output, keypoints or credibility file); see the module docstring."""
    npz = sorted(folder.glob("*.npz"))
    if len(npz) > 1:
        names = ", ".join(p.name for p in npz)
        raise MotionFileError(f"{folder.name}: several .npz files ({names}); keep one WHAM output per video")
    motion = npz[0] if npz else _one_file(folder, WHAM_PICKLES)
    if motion is None:
        raise MotionFileError(f"{folder.name}: no WHAM output (a .npz export, or {' / '.join(WHAM_PICKLES)})")
    if motion.suffix != ".npz" and not trust_pickle:
        raise RoparError(f"{folder.name}/{motion.name} is a pickle and can run code when loaded; export an "
                         ".npz or pass --trust-pickle for files you produced yourself")
    found = [folder / n for n in KEYPOINT_NAMES if (folder / n).exists()]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise MotionFileError(f"{folder.name}: several keypoint files ({names}); keep one per video")
    keypoints = found[0] if found else _one_file(folder, (MASK_NAME,))
    if keypoints is None:
        raise MotionFileError(f"{folder.name}: no keypoints ({', '.join(KEYPOINT_NAMES)} or {MASK_NAME})")
    return motion, keypoints


def _caption_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [ln.strip() for ln in lines if ln.strip()]


def plan_wham(spec: BuildSpec) -> Plan:
    root = Path(spec.input)
    caps = _captions(spec)

    def load(output: Path, keypoints: Path, texts: list[str], name: str | None) -> list[Clip]:
        return [wham.import_wham(output, keypoints, texts, keypoints_format=spec.keypoint_format,
                                 model_dir=spec.smpl_models, fps=spec.fps, trust_pickle=spec.trust_pickle,
                                 tau=spec.tau, clip_id=name, subject=name or "")]

    if root.is_file():  # one video: its WHAM output + --keypoints + --text / --captions
        if spec.keypoints is None:
            raise RoparError("one WHAM file needs --keypoints PATH (or give a folder of video folders)")
        texts = list(spec.text or []) or (captions_for(caps, root.name) if caps else [])
        if not texts:
            raise RoparError(f"{root.name}: no caption; pass --text \"...\" (or --captions with an entry "
                             "for it)")
        return Plan([Job(root.name, lambda: load(root, Path(spec.keypoints), texts, None))], [])
    if not root.is_dir():
        raise RoparError(f"{root}: no such file or folder")
    if spec.keypoints is not None or spec.text:
        raise RoparError("--keypoints and --text go with one WHAM file; a folder holds them per video "
                         f"(<video>/keypoints.json, <video>/{CAPTION_NAME})")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise RoparError(f"{root}: no video folders (expected <video>/wham.npz, keypoints.json, "
                         f"{CAPTION_NAME})")
    texts = {}
    for f in folders:
        texts[f.name] = (_caption_lines(f / CAPTION_NAME) if (f / CAPTION_NAME).is_file()
                         else captions_for(caps, f.name) if caps else [])
    missing = [name for name, t in texts.items() if not t]
    if missing and not spec.allow_uncaptioned:
        raise _uncaptioned_error(root, missing)

    def load_folder(folder: Path) -> list[Clip]:
        output, keypoints = video_files(folder, spec.trust_pickle)
        return load(output, keypoints, texts[folder.name], folder.name)

    jobs = [Job(f.name, lambda f=f: load_folder(f)) for f in folders if texts[f.name]]
    return Plan(jobs, [f"{len(missing)} video folders without a caption skipped"] if missing else [])


def plan_cmu_asf_amc(spec: BuildSpec) -> Plan:
    root = cmu_asf_amc.find_root(spec.input)
    trials = cmu_asf_amc.read_trials(root / cmu_asf_amc.TRIALS)

    return Plan([Job(t.file, lambda t=t: cmu_asf_amc.trial_clips(root, t, spec.split_seed)) for t in trials],
                [])


def plan_cmu_dance(spec: BuildSpec) -> Plan:
    root = cmu_dance.find_root(spec.input)
    return Plan([Job(file, lambda f=file, s=style, r=fps: cmu_dance.load_take(root, f, s, r, spec.split_seed))
                 for file, style, fps in cmu_dance.read_clips(root / cmu_dance.CLIPS)], [])


def plan_reactidle(spec: BuildSpec) -> Plan:
    root = reactidle.find_root(spec.input)
    return Plan([Job(file, lambda f=file, lb=label, p=person: reactidle.load_take(root, f, lb, p,
                                                                               spec.split_seed))
                 for file, label, person in reactidle.read_clips(root / reactidle.CLIPS)], [])


def _whole_folder(module) -> Callable[[BuildSpec], Plan]:
    """Sets whose importer reads the folder at once (one job)."""
    def plan(spec: BuildSpec) -> Plan:
        return Plan([Job(module.SOURCE, lambda: module.load_folder(spec.input, spec.split_seed))], [])

    return plan


# "open": the commercial-use sets, each found one level under --input (any that is missing is noted).
OPEN_SETS = (("cmu-asf-amc", cmu_asf_amc.find_root, plan_cmu_asf_amc),
             ("cmu-iclone", cmu_iclone.find_root, _whole_folder(cmu_iclone)),
             ("cmu-dance", cmu_dance.find_root, plan_cmu_dance),
             ("deepmimic", deepmimic.find_root, _whole_folder(deepmimic)),
             ("reactidle", reactidle.find_root, plan_reactidle))


def _without(load: Callable[[], list[Clip]], keys: set[str]) -> list[Clip]:
    """cmu-iclone's clips less the takes cmu-asf-amc also holds (imported once, from CMU's own files)."""
    return [c for c in load() if c.id.removeprefix("cmu_") not in keys]


def plan_open(spec: BuildSpec) -> Plan:
    root = Path(spec.input)
    folders = [root, *sorted(p for p in root.iterdir() if p.is_dir())] if root.is_dir() else []
    jobs, notes, found = [], [], {}
    for name, find, plan in OPEN_SETS:
        for folder in folders:
            try:
                found[name] = find(folder)
                break
            except RoparError:
                continue
        if name not in found:
            notes.append(f"no {name} set under {root}")
            continue
        sub = plan(BuildSpec(name, found[name], split_seed=spec.split_seed))
        jobs += [Job(f"{name}/{j.label}", j.load) for j in sub.jobs]
    if not found:
        raise RoparError(f"{root}: none of the commercial-use sets ({', '.join(n for n, _, _ in OPEN_SETS)}) "
                         "is there; unpack their archives into it")
    if "cmu-asf-amc" in found and "cmu-iclone" in found:
        amc = {t.key for t in cmu_asf_amc.read_trials(found["cmu-asf-amc"] / cmu_asf_amc.TRIALS)}
        iclone = {cmu_iclone.take_key(p) for p in (found["cmu-iclone"] / "bvh").glob("*.bvh")}
        jobs = [Job(j.label, lambda j=j: _without(j.load, amc)) if j.label.startswith("cmu-iclone/") else j
                for j in jobs]
        notes.append(f"the {len(amc & iclone)} takes in both CMU sets imported once, from cmu-asf-amc")
    return Plan(jobs, notes)


PLANS = {"bvh": plan_bvh, "humanml3d": plan_humanml3d, "amass": plan_amass, "wham": plan_wham,
         "cmu-asf-amc": plan_cmu_asf_amc, "cmu-dance": plan_cmu_dance, "reactidle": plan_reactidle,
         "cmu-iclone": _whole_folder(cmu_iclone), "deepmimic": _whole_folder(deepmimic), "open": plan_open}


def _load(job: Job, spec: BuildSpec, skipped: list[str]) -> list[Clip]:
    """One job's clips; an unreadable file stops the run, or with --skip-bad is noted and passed over."""
    try:
        return job.load()
    except MotionFileError as exc:
        named = job.label in str(exc) or Path(job.label).name in str(exc)
        msg = str(exc) if named else f"{job.label}: {exc}"
        if not spec.skip_bad:
            raise MotionFileError(msg) from None
        skipped.append(msg)
        return []


def iter_clips(plan: Plan, spec: BuildSpec, skipped: list[str]) -> Iterator[Clip]:
    """Run the jobs in order with a progress bar, re-deciding splits by --splits / --split-seed (unless an
    official split list fixed them), up to --limit clips."""
    count = 0
    bar = tqdm(total=len(plan.jobs), desc=spec.source, unit="file", disable=spec.quiet, file=sys.stderr)
    with bar:
        for job in plan.jobs:
            clips = _load(job, spec, skipped)
            bar.update()
            for clip in clips:
                if not plan.keep_split(clip):
                    clip.meta["split"] = assign_split(clip.split_key, spec.splits, spec.split_seed)
                yield clip
                count += 1
                if spec.limit is not None and count >= spec.limit:
                    return


def plan_for(spec: BuildSpec) -> Plan:
    spec.check()
    return PLANS[spec.source](spec)


def import_clips(spec: BuildSpec) -> list[Clip]:
    """All clips of `spec` in memory (small sets, tests); build_cache streams them into a cache instead.
    Unreadable inputs skipped with --skip-bad are logged to stderr."""
    skipped: list[str] = []
    clips = list(iter_clips(plan_for(spec), spec, skipped))
    for msg in skipped:
        print(f"skipped: {msg}", file=sys.stderr)
    if not clips:
        raise RoparError(f"{spec.input}: no clips were imported")
    return clips
