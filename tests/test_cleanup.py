"""Output cleanup (ropar_core/cleanup.py) on real Bandai mocap, clean and damaged the way generated
motion is damaged (stretched bones, sunk and sliding feet)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ropar_core import cleanup
from ropar_core import features as feats
from ropar_core.io import load_motion
from ropar_core.windows import sample_in_windows
from training.evaluation import plausibility as pl

DATA = Path(__file__).parent / "data" / "bandai"
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "assets" / "default"


def real(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A real clip as the model sees it: (joints (T, 22, 3) from the 263 features, the features)."""
    motion = load_motion(DATA / name, fps=20)
    x = feats.joints_to_features(motion.joints)
    return feats.features_to_joints(x).astype(np.float64), x


def damaged(joints: np.ndarray, seed: int = 0) -> np.ndarray:
    """Generated-looking damage: every bone stretched by its own wobbling factor, the body sunk 6 cm,
    and the legs sliding forward and back by 6 cm."""
    rng = np.random.default_rng(seed)
    T = len(joints)
    out = joints.copy()
    scale = 1.0 + 0.15 * np.sin(np.linspace(0, 6, T)[:, None] + rng.uniform(0, 6, 22))  # (T, 22)
    for c in range(1, 22):
        p = cleanup.sk.PARENTS[c]
        out[:, c] = out[:, p] + (joints[:, c] - joints[:, p]) * scale[:, c, None]
    out[..., 1] -= 0.06
    slide = 0.06 * np.sin(np.linspace(0, 12, T))
    for leg in cleanup.LEGS:
        out[:, list(leg), 2] += slide[:, None]
    return out


def test_rigid_bones_restore_the_fixed_lengths_and_keep_clean_motion():
    joints, _ = real("dataset-2_walk_active_009.bvh")
    assert np.abs(cleanup.rigid_bones(joints) - joints).max() < 1e-4  # training clips have these lengths
    fixed = cleanup.rigid_bones(damaged(joints))
    assert pl.bone_length_variation(damaged(joints)) > 0.05
    assert pl.bone_length_variation(fixed) < 1e-6


@pytest.mark.parametrize("name", ["dataset-2_walk_active_009.bvh", "dataset-2_run_active_031.bvh",
                                  "dataset-2_walk-turn-right_exhausted_027.bvh"])
def test_cleanup_repairs_damaged_real_locomotion(name):
    joints, x = real(name)
    bad = damaged(joints)
    before, after = pl.clip_metrics(bad), pl.clip_metrics(cleanup.clean_joints(bad, x))
    truth = pl.clip_metrics(joints)
    assert before["sink_share"] > 0.3 and after["sink_share"] == 0.0
    assert after["bone_variation"] < 1e-6
    assert after["skating_ratio"] < before["skating_ratio"]
    assert after["skating_ratio"] <= 1.5 * truth["skating_ratio"] + 0.1
    assert abs(after["heading_deg"] - truth["heading_deg"]) < 10  # the path is not bent


@pytest.mark.skipif(not (DEFAULT_MODEL / "config.json").is_file(), reason="no model in assets/default")
def test_generated_walks_stand_on_the_floor_after_cleanup():
    """The shipped model's raw walks drag their feet far from the body; locking them must not pull the
    body down onto the floor (it comes down MAX_DROP at most), and the feet end up on the floor."""
    from ropar_core.generator import Generator

    gen = Generator.from_pretrained(device="cpu")
    prompts = ["a man goes for a walk down the street", "she is walking along calmly",
               "somebody paces down a long corridor"]
    for m in gen.generate(prompts, seconds=5, seed=0, raw=True):
        out = cleanup.clean_joints(m.joints, m.features)
        assert pl.lowest_foot(out).min() < 0.02 and pl.float_share(out) < 0.2, m.prompt
        assert pl.sink_share(out) == 0.0 and pl.bone_length_variation(out) < 1e-6


@pytest.mark.skipif(not (DEFAULT_MODEL / "config.json").is_file(), reason="no model in assets/default")
def test_a_long_generated_walk_keeps_its_feet_after_cleanup():
    """30 s of walking from the shipped model: no foot is held so long that it jumps back to its leg
    (before PLANT_RADIUS the peak acceleration reached 17.7x the median here; real walks 1.7-2.2x), and
    no toe moves more than 0.35 m in one frame (a 7 m/s swing)."""
    from ropar_core.generator import Generator

    gen = Generator.from_pretrained(device="cpu")
    m = gen.generate(["a man goes for a long walk down the street"], seconds=30, seed=0)[0]
    joints = np.asarray(m.joints, dtype=np.float64)
    acc = np.linalg.norm(np.diff(joints, n=2, axis=0), axis=-1).mean(1)
    assert acc.max() < 6 * np.median(acc)
    toe_step = np.linalg.norm(np.diff(joints[:, [10, 11]], axis=0), axis=-1)
    assert toe_step.max() < 0.35


def test_cleanup_leaves_real_motion_nearly_as_it_was():
    for name in ("dataset-2_walk_active_009.bvh", "dataset-2_raise-up-left-hand_active_020.bvh"):
        joints, x = real(name)
        out = cleanup.clean_joints(joints, x)
        err = np.linalg.norm(out - joints, axis=-1)
        assert err.mean() < 0.02, (name, err.mean())
        assert pl.clip_metrics(out)["sink_share"] == 0.0


def test_window_seams_follow_the_window_schedule():
    starts = []

    def window(n, known, known_mask):
        starts.append(int((~known_mask[0, :, 0]).nonzero()[0]) if (~known_mask).any() else 0)
        return torch.zeros(known.shape)

    max_tokens, tokens = 32, 100
    sample_in_windows(window, (1, tokens, 1, 2), max_tokens, torch.device("cpu"))
    # new tokens start where the previous window ended; cleanup's seams are those frames
    assert cleanup.window_seams(tokens * 4, max_tokens) == [4 * s for s in (32, 56, 80)]
    assert len(starts) == 4
    assert cleanup.window_seams(128, 32) == []


def test_seam_blend_smooths_a_jump_only_near_the_seam():
    joints, _ = real("dataset-2_walk_active_009.bvh")
    jumped = joints.copy()
    jumped[40:] += np.array([0.05, 0.0, 0.0])
    out = cleanup.blend_seams(jumped, [40])
    assert pl.seam_pop(jumped, [40]) > 2 and pl.seam_pop(out, [40]) < 1.2  # no larger than a usual frame
    assert np.array_equal(out[:30], jumped[:30]) and np.array_equal(out[50:], jumped[50:])


def test_a_swinging_toe_leaves_the_floor_at_once():
    """Toe-off: the first swing frame of an 8-frame step already lifts the toe past the 5 cm at which the
    skating metric counts a moving foot as on the floor (with a plain sine arc it stayed at 2.4 cm)."""
    contact = np.array([1] * 5 + [0] * 8 + [1] * 5, bool)
    toe = np.zeros((len(contact), 3))
    toe[:, 2] = np.linspace(0.0, 0.6, len(contact))  # a 0.6 m step
    arc = cleanup.swing_clearance(toe, contact)
    assert (arc[contact] == 0).all()
    assert arc[5] + cleanup.TOE_FLOOR > 0.05 and arc[12] + cleanup.TOE_FLOOR > 0.05
    assert arc.max() <= cleanup.SWING_CLEARANCE


def test_contact_gaps_of_a_frame_or_two_are_closed():
    from ropar_core.cleanup import close_gaps

    mask = np.array([0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0], bool)
    want = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0], bool)
    np.testing.assert_array_equal(close_gaps(mask), want)  # a 3-frame gap stays, a blip is kept here


def test_a_plants_height_correction_does_not_press_a_flight_down():
    """A generated plant often floats (toe 8 cm up while its contact holds): locking puts it on the floor,
    but in the air between two such plants the toe keeps its own height (carrying the -7 cm across the
    flight cost generated jumps 0.08-0.12 m of lift); the horizontal correction still spans the gap."""
    contact = np.array([1] * 6 + [0] * 12 + [1] * 6, bool)
    toe = np.zeros((len(contact), 3))
    toe[:, 1] = np.where(contact, 0.08, 0.30)  # plants afloat, a 22 cm jump in between
    toe[:6, 2] = np.linspace(0.0, 0.06, 6)  # the toe slides 6 cm while planted,
    toe[6:18, 2] = np.linspace(0.1, 0.9, 12)  # travels 1 m in the air
    toe[18:, 2] = 1.0 + np.linspace(0.0, 0.06, 6)  # and slides again
    goal = toe + cleanup.toe_offsets(toe, contact)
    np.testing.assert_allclose(goal[contact, 1], cleanup.TOE_FLOOR)
    mid = slice(6 + cleanup.LIFT_RELEASE_FRAMES + 1, 18 - cleanup.LIFT_RELEASE_FRAMES - 1)
    np.testing.assert_allclose(goal[mid, 1], 0.30)  # the flight as generated
    assert np.all(np.diff(goal[5:9, 1]) > 0)  # rising out of the plant, no step
    assert abs(goal[7, 2] - toe[7, 2] + 0.03) < 0.01  # the slide is still absorbed in the air


def test_a_plant_that_slides_on_is_released_and_planted_again():
    """A contact that lasts while the toe travels 2 m (generated shuffling) becomes plants of at most
    PLANT_RADIUS with PLANT_GAP-frame steps between them; a short plant is left whole."""
    T = 60
    toe = np.zeros((T, 3))
    toe[:, 2] = np.linspace(0.0, 2.0, T)  # 3.4 cm per frame, "in contact" all along
    mask = cleanup.split_long_plants(np.ones(T, bool), toe)
    runs = cleanup._runs(mask, min_len=1)
    assert len(runs) >= 3
    for s, e in runs:
        assert abs(toe[e - 1, 2] - toe[s, 2]) <= cleanup.PLANT_RADIUS + 0.035
    for (_, e0), (s1, _) in zip(runs[:-1], runs[1:]):
        assert s1 - e0 == cleanup.PLANT_GAP
    short = np.zeros(T, bool)
    short[10:20] = True
    np.testing.assert_array_equal(cleanup.split_long_plants(short, toe), short)


def test_a_jump_keeps_its_height_when_the_plants_around_it_float():
    """A standing clip with a 0.3 m jump in it, the plants before and after floating 8 cm as generated
    ones do: the cleanup puts the plants on the floor and brings the body down with them, but not in the
    air (spreading the plants' drop into the flight cost generated jumps 0.1 m)."""
    joints, _ = real("dataset-2_raise-up-left-hand_active_020.bvh")
    joints = joints - [0.0, joints[..., 1].min(), 0.0]
    T = len(joints)
    a, n = T // 2 - 6, 12
    flight = np.zeros(T)
    flight[a:a + n] = 0.3 * np.sin(np.pi * (np.arange(n) + 1) / (n + 1))
    jumped = joints + (flight + 0.08 * (flight == 0))[:, None, None] * [0.0, 1.0, 0.0]
    contact = np.repeat((flight == 0)[:, None], 2, axis=1)
    out = cleanup.lock_feet(jumped, contact)
    apex = a + n // 2
    standing = np.median(out[flight == 0, 0, 1])
    assert out[apex, 0, 1] - standing > 0.27  # the jump's 0.3 m, nearly all of it
    assert np.abs(out[flight == 0][:, [10, 11], 1] - cleanup.TOE_FLOOR).max() < 0.03  # plants on the floor


def _dragged_swings(joints, contact):
    """Generated-style runs: between plants the feet are dragged 2 cm above the floor."""
    out = joints.copy()
    for leg, (_, _, ankle, toe) in enumerate(cleanup.LEGS):
        swing = ~contact[:, leg]
        drop = out[swing, toe, 1] - 0.02
        out[swing, ankle, 1] -= drop
        out[swing, toe, 1] -= drop
    return out


def test_a_running_swing_clears_the_floor_in_flight_and_a_walking_one_does_not():
    """In a run's flight phases no foot carries the body, yet the swinging foot must still leave the
    floor (generated runs dragged theirs: cleaned skating 0.52 against 0.20 real). The same clip slowed
    to a walker's speed gets no invented flight: its swing waits for the other foot's support."""
    joints, x = real("dataset-2_run_active_031.bvh")
    contact = cleanup.contacts(joints, x)
    flight = ~contact.any(1)
    assert flight.sum() >= 5  # a real run has flight phases

    def flight_toes(j, c):
        goals = cleanup.ankle_goals(j, c)
        lifted = []
        for leg, ((_, _, ankle, toe), goal) in enumerate(zip(cleanup.LEGS, goals)):
            toe_y = goal[:, 1] + j[:, toe, 1] - j[:, ankle, 1]
            arc = cleanup.swing_clearance(j[:, toe] + cleanup.toe_offsets(j[:, toe], c[:, leg]), c[:, leg])
            lifted.append(toe_y[(~c.any(1)) & (arc > 0)])
        return np.concatenate(lifted)

    running = flight_toes(_dragged_swings(joints, contact), contact)
    assert len(running) >= 5 and np.median(running) > 0.10  # RUN_CLEARANCE, not a walk's 7 cm
    slow = np.repeat(joints, 3, axis=0)  # a third of the speed: about 1.2 m/s
    slow_contact = np.repeat(contact, 3, axis=0)
    walking = flight_toes(_dragged_swings(slow, slow_contact), slow_contact)
    assert len(walking) >= 5 and np.median(walking) < 0.03
