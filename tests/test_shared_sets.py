"""Importers and captions of the commercial-use sets in ../shared/datasets: CMU's ASF/AMC trials, the CMU
dance BVH (salsa, Indian, martial arts) and ReActIdle, each unpacked in part with a trial list naming
just the unpacked takes, and the "open" source of build_cache that gathers them (with cmu-iclone, whose
copies of the ASF/AMC takes it imports once)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ropar_core import features as F
from ropar_core.bone_maps import detect_bone_map
from ropar_core.bvh import end_site_positions, read_bvh
from ropar_core.cli import main
from ropar_core.errors import RoparError
from tests.helpers.shared_archives import unpack
from training.data import plans, prepare_multi
from training.data.cache import Cache
from training.data.captions_labels import camel_words, cmu105_entry, label_captions
from training.data.captions_sources import cmu_action, cmu_captions
from training.data.importers import cmu_asf_amc, cmu_dance, reactidle, segment_bounds

AMC_TRIALS = ("10/10_05.amc", "16/16_17.amc", "49/49_18.amc", "105/105_19.amc", "105/105_56.amc",
              "02/02_01.amc", "49/49_03.amc")
DANCE_TAKES = ("salsa/01.bvh", "salsa/16.bvh", "martial/04.bvh")
IDLE_TAKES = ("genuine/003_genuine.bvh", "acted/003_acted.bvh")


def _keep_rows(path: Path, files: tuple[str, ...]) -> None:
    """A trial list naming only the unpacked takes (the header and their rows)."""
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0]] + [ln for ln in lines[1:] if ln.split("\t")[0] in files]) + "\n")


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sets")
    subjects = sorted({f.split("/")[0] for f in AMC_TRIALS})
    amc = unpack("cmu-asf-amc", ["cmu-asf-amc/TRIALS.tsv", *(f"cmu-asf-amc/{f}" for f in AMC_TRIALS),
                                 *(f"cmu-asf-amc/{s}/{s}.asf" for s in subjects)], root)
    _keep_rows(amc / "TRIALS.tsv", AMC_TRIALS)
    dance = unpack("cmu-dance-bvh", ["cmu-dance-bvh/CLIPS.tsv", *(f"cmu-dance-bvh/{f}" for f in DANCE_TAKES)],
                   root)
    _keep_rows(dance / "CLIPS.tsv", DANCE_TAKES)
    idle = unpack("reactidle-bvh", ["reactidle-bvh/CLIPS.tsv", *(f"reactidle-bvh/{f}" for f in IDLE_TAKES)],
                  root)
    _keep_rows(idle / "CLIPS.tsv", IDLE_TAKES)
    iclone = ["cmu-iclone/CMU data.csv", "cmu-iclone/bvh/002_01.bvh", "cmu-iclone/bvh/002_05.bvh"]
    unpack("cmu-iclone", iclone, root)
    return root


def test_camel_case_names_become_words():
    assert camel_words("WalkDigital8") == "walk digital 8"
    assert camel_words("acheyWalk") == "achey walk"
    assert camel_words("360 smallStumble") == "360 small stumble"
    assert camel_words("CarefulWalk LookingAround") == "careful walk looking around"
    assert camel_words("MotorCyclePose") == "motor cycle pose"


def test_jump_turns_are_worded_by_the_measured_turn():
    assert cmu105_entry("180", 171.0)[1][0] == "jumps and turns around in the air"
    action, wordings = cmu105_entry("90", 276.0)  # CMU's label says 90; the take turns three quarters
    assert action == "jump turn" and "270-degree" in " ".join(wordings)
    assert "stumbling" in cmu105_entry("360 smallStumble", -382.0)[1][0]
    assert cmu105_entry("JumpTurn", -90.0)[1][:2] == ("jumps and turns a quarter in the air",
                                                       "does a jump with a 90-degree turn")
    with pytest.raises(ValueError, match="measured turn"):
        cmu105_entry("180")
    with pytest.raises(ValueError, match="no captions"):
        cmu105_entry("MoonWalk")


def test_new_cmu_descriptions_read_as_sentences():
    cases = {
        "walk, 90-degree left turn": ("walk", "a person walks and turns 90 degrees to the left"),
        "forward jump": ("jump", "a person jumps forward"),
        "high jump": ("jump", "a person jumps high"),
        "soccer - kick ball": ("kick", "a person plays soccer and kicks a ball"),
        "run/jog, sudden stop": ("run", "a person runs and stops suddenly"),
        "balance on one leg, outstretched arms": ("balance",
                                                  "a person balances on one leg and stretches the arms out"),
        "lindyHop2": ("dance", "a person dances the lindy hop"),
        "navigate - walk forward, backward, sideways": ("walk", None),
    }
    for description, (action, first) in cases.items():
        texts = cmu_captions(description, "000_00", n=6)
        assert cmu_action(description) == action, description
        assert first is None or texts[0] == first, texts[0]
        assert len(set(texts)) >= 5, texts
        for text in texts:  # none of the old grammar's slips ("forwards jump", "90-degrees", "sidewayses")
            assert not re.search(r"forwards jump|highs |degrees left|sidewayses|lindyhop|kicks ball", text)
    ballet = cmu_captions("dance - attitude/arabesque, jete en tourant, bending back", "005_18", n=12)
    assert any("raises one leg behind" in t for t in ballet) and any("turning leap" in t for t in ballet)


def test_label_captions_vary_and_are_deterministic():
    wordings = ("stands idle", "waits")
    texts = label_captions(wordings, "k", n=5)
    assert texts == label_captions(wordings, "k", n=5) and len(set(texts)) == 5
    assert texts[0] == "a person stands idle" and any(t.endswith("waits") for t in texts)


def test_segments_are_equal_and_at_most_the_limit():
    bounds = segment_bounds(2500, 24.0, 20.0)  # 104 s -> six pieces of about 17 s
    assert len(bounds) == 6 and bounds[0][0] == 0 and bounds[-1][1] == 2500
    assert all(b - a <= 20 * 24 for a, b in bounds)
    assert all(end == start for (_, end), (start, _) in zip(bounds, bounds[1:]))
    assert segment_bounds(100, 24.0, 20.0) == [(0, 100)]


def test_cmu_asf_amc_folder(sets):
    clips = {c.id: c for c in cmu_asf_amc.load_folder(sets / "cmu-asf-amc")}
    whole = {f"cmuamc_{int(f.split('/')[0]):03d}_{f[-6:-4]}" for f in AMC_TRIALS if f != "49/49_03.amc"}
    assert set(clips) == whole | {f"cmuamc_049_03_{i}" for i in range(4)}
    kick = clips["cmuamc_010_05"]  # the uploader's label says "walk"; CMU's description says kick
    assert kick.meta["content"] == "kick" and "kicks a ball" in kick.texts[0]
    assert kick.split_key == "cmu/010_05" and kick.subject == "cmu010"
    turn = clips["cmuamc_105_56"]
    assert 250 < turn.meta["turn_deg"] < 300 and "three quarters" in turn.texts[0]
    left = clips["cmuamc_016_17"]
    assert 70 < left.meta["turn_deg"] < 120  # "walk, 90-degree left turn": + is to the left
    assert clips["cmuamc_105_19"].texts[0] == "a person marches"
    for clip in (clips[i] for i in whole):
        assert len(set(clip.texts)) == 5 and np.isfinite(clip.features).all()
        seconds = next(int(r.split("\t")[3]) for r in (sets / "cmu-asf-amc" / "TRIALS.tsv").read_text()
                       .splitlines()[1:] if r.startswith(clip.meta["file"])) / 120
        assert abs(clip.length / 20 - seconds) < 0.15  # 120 fps from TRIALS.tsv, resampled to 20


def test_jumps_then_hops_are_cut_where_the_feet_change(sets):
    """49_03, "jump up and down, hop on one foot": both feet, the left foot, the right foot, both again."""
    pieces = [c for c in cmu_asf_amc.load_folder(sets / "cmu-asf-amc") if c.id.startswith("cmuamc_049_03")]
    assert [c.meta["content"] for c in pieces] == ["jump", "hop", "hop", "jump"]
    assert [c.texts[0] for c in pieces] == ["a person jumps up and down", "a person hops on the left foot",
                                            "a person hops on the right foot", "a person jumps up and down"]
    seconds = [c.length / 20 for c in pieces]
    assert 3.5 < seconds[0] < 4.5 and 1.5 < seconds[1] < 2.2 and 1.5 < seconds[2] < 2.2 and seconds[3] > 4
    assert len({c.split_key for c in pieces}) == 1 and len({c.meta["split"] for c in pieces}) == 1
    for clip, raised in zip(pieces[1:3], ((8, 11), (7, 10))):  # the other foot never comes down
        joints = F.features_to_joints(clip.features)
        floor = joints[:, [7, 8, 10, 11], 1].min()
        assert (joints[:, raised, 1].min(axis=1) - floor).min() > 0.05
    assert len(set(pieces[1].texts)) == 5


def test_cmu_asf_amc_bad_trial_list(sets, tmp_path):
    bad = tmp_path / "cmu-asf-amc"
    bad.mkdir()
    (bad / "TRIALS.tsv").write_text("file\tsubject\n02/02_01.amc\t2\n")
    with pytest.raises(RoparError, match="no column trial, fps, cmu_description"):
        cmu_asf_amc.load_folder(bad)
    (bad / "TRIALS.tsv").write_text((sets / "cmu-asf-amc" / "TRIALS.tsv").read_text())
    with pytest.raises(Exception, match="listed in TRIALS.tsv but not there"):
        cmu_asf_amc.load_folder(bad)


def test_dance_rates_partners_and_pieces(sets):
    root = sets / "cmu-dance-bvh"
    bvh = read_bvh(root / "salsa" / "01.bvh")
    assert bvh.fps == 120.0  # what the header says; the set's CLIPS.tsv and CMU say 60
    assert detect_bone_map(bvh.names + [n + "_end" for n in end_site_positions(bvh)])[0] == "daz"
    clips = cmu_dance.load_folder(root)
    salsa = [c for c in clips if c.meta["file"] == "salsa/01.bvh"]
    seconds = (bvh.frames - cmu_dance.DROP_FRAMES) / 60
    assert abs(sum(c.length for c in salsa) / 20 - seconds) < 0.1 * len(salsa)  # read at 60 fps
    assert len(salsa) == int(np.ceil(seconds / cmu_dance.MAX_SECONDS))
    partner = [c for c in clips if c.meta["file"] == "salsa/16.bvh"]
    assert {c.split_key for c in salsa} == {c.split_key for c in partner} == {"cmu_dance/salsa/01"}
    assert len({c.meta["split"] for c in salsa + partner}) == 1
    martial = [c for c in clips if c.meta["style"] == "martial"]
    assert martial and all(c.meta["content"] == "martial arts" for c in martial)
    assert salsa[0].texts[0] == "a person dances salsa" and len(set(salsa[0].texts)) == 5
    for clip in clips:  # every piece standing on the floor, not under it (the first frames are dropped)
        joints = F.features_to_joints(clip.features)
        assert abs(joints[:, [7, 8, 10, 11], 1].min()) < 0.01


def test_reactidle_root_offset_wrists_and_person_split(sets):
    root = sets / "reactidle-bvh"
    joints, fps = reactidle.take_joints(root / "genuine" / "003_genuine.bvh")
    assert fps == 24.0
    feet = joints[:, [7, 8, 10, 11], 1].min(axis=1)
    assert abs(np.median(feet)) < 0.06  # on the floor without any normalising: the OFFSET is added back
    assert 0.65 < np.median(joints[:, 0, 1]) < 1.05  # an adult's hip height (this rig's pelvis is low)
    forearm = np.linalg.norm(joints[:, 20] - joints[:, 18], axis=-1)  # the wrist at the forearm's end
    assert 0.19 < forearm.mean() < 0.26 and forearm.std() < 1e-3
    clips = reactidle.load_folder(root)
    assert {c.split_key for c in clips} == {"reactidle/003"} and len({c.meta["split"] for c in clips}) == 1
    assert {c.meta["style"] for c in clips} == {"acted", "genuine"}
    assert all(c.length <= reactidle.MAX_SECONDS * 20 and c.meta["content"] == "idle" for c in clips)
    assert clips[0].texts[0] == "a person stands idle"


def test_open_source_gathers_the_sets_and_imports_shared_takes_once(sets):
    spec = plans.BuildSpec("open", sets, quiet=True)
    plan = plans.plan_for(spec)
    assert "no deepmimic set under" in " ".join(plan.notes)
    assert any("imported once" in n for n in plan.notes)
    clips = plans.import_clips(spec)
    ids = {c.id for c in clips}
    assert "cmuamc_002_01" in ids and "cmu_002_01" not in ids  # the iClone copy of 02_01 left out
    assert "cmu_002_05" in ids  # a take only the iClone set has
    assert {c.source for c in clips} == {"cmu", "cmu_dance", "reactidle"}
    with pytest.raises(RoparError, match="none of the commercial-use sets"):
        plans.plan_for(plans.BuildSpec("open", sets / "cmu-asf-amc" / "02"))
    with pytest.raises(RoparError, match="--captions, --fps does not apply to --source reactidle"):
        plans.plan_for(plans.BuildSpec("reactidle", sets, captions="c.csv", fps=30))


def test_prepare_multi_takes_the_new_sets_and_imports_shared_takes_once(sets):
    spec = prepare_multi.MultiSpec(bandai2_cache="unused", out="unused", cmu=str(sets / "cmu-iclone"),
                                   cmu_asf_amc=str(sets / "cmu-asf-amc"),
                                   reactidle=str(sets / "reactidle-bvh"))
    clips = prepare_multi.import_new(spec)
    ids = {c.id for c in clips}
    assert {"cmuamc_002_01", "cmu_002_05"} <= ids and "cmu_002_01" not in ids
    assert {c.source for c in clips} == {"cmu", "reactidle"}
    assert set(prepare_multi.LICENCES) >= {"cmu", "cmu_dance", "reactidle"}
    licences = prepare_multi.LICENCES
    assert "MIT" in licences["reactidle"] and "mocap.cs.cmu.edu" in licences["cmu_dance"]
    assert prepare_multi.parse_weights("cmu_dance=3,reactidle=2")["reactidle"] == 2


def test_prepare_multi_without_bandai_data_builds_an_open_cache(sets, tmp_path):
    """The commercial-use sources alone, with the default model's recipe: mirrors, video noise, repeats."""
    idle = tmp_path / "reactidle-bvh"
    (idle / "genuine").mkdir(parents=True)
    (idle / "acted").mkdir()
    (idle / "genuine" / "003_genuine.bvh").symlink_to(sets / "reactidle-bvh" / "genuine" / "003_genuine.bvh")
    (idle / "CLIPS.tsv").write_text((sets / "reactidle-bvh" / "CLIPS.tsv").read_text())
    _keep_rows(idle / "CLIPS.tsv", ("genuine/003_genuine.bvh",))
    out = tmp_path / "cache-open"
    assert prepare_multi.main(["--reactidle", str(idle), "--out", str(out), "--weights", "reactidle=3"]) == 0
    clean, noisy = Cache(out / "clean"), Cache(out / "noisy")
    ids = [c["id"] for c in clean.clips]
    assert ids == ["reactidle_003_genuine_0", "reactidle_003_genuine_0_mirror", "reactidle_003_genuine_1",
                   "reactidle_003_genuine_1_mirror"]
    assert clean.meta["sources"] == ["reactidle"] and clean.meta["bandai2_cache"] is None
    assert noisy.noisy and [c["id"] for c in noisy.clips] == ids
    repeats = {c["split"]: c["repeat"] for c in clean.clips}
    assert repeats.get("train", 3) == 3 and all(r == 1 for s, r in repeats.items() if s != "train")
    vocab = json.loads((out / "vocabulary.json").read_text())
    assert [(r["source"], r["action"], r["clips"]) for r in vocab] == [("reactidle", "idle", 2)]
    assert "MIT" in vocab[0]["licence"]


def test_convert_reads_the_daz_and_metarig_rigs(sets, tmp_path, capsys):
    """`ropar convert` finds the new bone maps by the joint names (End Sites included)."""
    idle = sets / "reactidle-bvh" / "genuine" / "003_genuine.bvh"
    assert main(["convert", str(idle), str(tmp_path / "idle.npy")]) == 0
    assert "@ 24 fps) -> idle.npy (h3d263" in capsys.readouterr().out
    joints = F.features_to_joints(np.load(tmp_path / "idle.npy"))
    assert np.ptp(joints[:, 0, [0, 2]], axis=0).max() < 0.5  # stands in place
    assert main(["convert", str(sets / "cmu-dance-bvh" / "martial" / "04.bvh"), str(tmp_path / "m.npz"),
                 "--bone-map", "daz"]) == 0
    assert "(npz, 1317 frames @ 120 fps)" in capsys.readouterr().out


def test_clip_lists_are_read_from_regular_files_only(tmp_path):
    """A dataset's clip list is a regular file, capped before reading: a FIFO in its place is refused at
    once instead of blocking the import."""
    import os

    from training.data.importers import reactidle

    fifo = tmp_path / "CLIPS.tsv"
    os.mkfifo(fifo)
    with pytest.raises(RoparError, match="only regular files are read"):
        reactidle.read_clips(fifo)
