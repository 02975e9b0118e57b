"""Plausibility metrics (training/evaluation/plausibility.py) on real Bandai clips and on known damage."""

from pathlib import Path

import numpy as np

from ropar_core import features as feats
from ropar_core.io import load_motion
from training.evaluation import plausibility as pl

DATA = Path(__file__).parent / "data" / "bandai"


def real(name: str) -> np.ndarray:
    x = feats.joints_to_features(load_motion(DATA / name, fps=20).joints)
    return feats.features_to_joints(x).astype(np.float64)


def test_real_walk_plants_its_feet_on_the_floor():
    m = pl.clip_metrics(real("dataset-2_walk_active_009.bvh"))
    assert m["sink_share"] == 0.0 and m["bone_variation"] < 1e-4
    assert 0.05 < m["skating_ratio"] < 0.5  # toe-off and heel-strike frames move while low
    assert 0.8 < m["stride_m"] < 2.0
    assert m["toe_speed_cms"] < 15 and abs(m["heading_deg"]) < 15


def test_turn_right_turns_right_by_about_ninety_degrees():
    assert -130 < pl.heading_change(real("dataset-2_walk-turn-right_exhausted_027.bvh")) < -60
    mirrored = real("dataset-2_walk-turn-right_exhausted_027.bvh") * np.array([-1.0, 1.0, 1.0])
    mirrored = mirrored[:, list(feats.sk.MIRROR)]  # left <-> right: a left turn
    assert 60 < pl.heading_change(mirrored) < 130


def test_damage_shows_in_the_numbers():
    joints = real("dataset-2_walk_active_009.bvh")
    sunk = joints - np.array([0.0, 0.05, 0.0])
    assert pl.sink_share(sunk) > 0.5 and pl.clip_metrics(sunk)["lowest_foot_cm"] < -4
    floating = joints + np.array([0.0, 0.2, 0.0])
    assert pl.float_share(floating) == 1.0
    stretched = joints.copy()
    grow = np.linspace(1, 1.5, len(joints))[:, None]
    stretched[:, 20] = joints[:, 18] + (joints[:, 20] - joints[:, 18]) * grow
    assert pl.bone_length_variation(stretched) > 0.1
    sliding = joints.copy()
    sliding[..., 2] = joints[:, :1, 2] + (joints[..., 2] - joints[:, :1, 2]) * 0.2  # dragged with the body
    assert pl.skating_ratio(sliding) > pl.skating_ratio(joints) + 0.2
    jittered = joints + np.random.default_rng(0).normal(0, 0.01, joints.shape)
    assert pl.jerk(jittered) > 3 * pl.jerk(joints)


def test_summaries_average_clips_and_keep_the_worst_bone():
    rows = [{"bone_variation": 0.01, "heading_deg": -20.0}, {"bone_variation": 0.03, "heading_deg": 10.0}]
    s = pl.summarise(rows)
    assert s["bone_variation"] == 0.02 and s["bone_variation_max"] == 0.03
    assert s["abs_heading_median_deg"] == 15.0 and s["clips"] == 2
