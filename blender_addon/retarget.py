"""Retarget generated SMPL-22 motion onto any armature (numpy only: no bpy, so it is testable anywhere).

Inputs are plain arrays: the generated joints (T, 22, 3) in metres, Y up, and the target's rest pose
(`RigRest`: bone names, parents, `bone.matrix_local` in armature space, the object's world matrix) plus
a bone map from
`presets`. Output: per keyed bone the pose-bone `rotation_quaternion` Blender expects, and the location
of the bone(s) that carry the root translation.

Method (all in armature space):
1. Placement (`placement.py`): the rig's up and forward from its world matrix and rest pose, scale
   s = rig leg length / generated leg length (thigh + shin), feet on the rig's floor (its rest feet
   when the rest pose stands, else the armature's origin).
2. World-space delta D_b per bone (posed orientation = D_b · rest orientation), in parent-first order:
   - a mapped bone aims at the next mapped joint down its SMPL chain (pelvis -> spine1, hip -> knee, ...):
     D_b = swing(D_parent · rest_aim -> generated_aim) · D_parent, i.e. the smallest turn away from the
     parent, so the bone keeps its rest roll relative to its parent ("rest roll" twist);
   - the pelvis and the top spine bone also match a side axis (hip line, collar/shoulder line), so the
     hips and chest turn and tilt like the generated body;
   - leaf joints (head, wrists, toes) and unmapped bones follow their parent rigidly.
   Why not the generated rotations' twist: HumanML3D's local rotations are swing-only (ANCHOR-FACTS §1.2
   step 6), so they hold no twist beyond what the joint positions already give.
3. Pose basis (what `pose_bone.rotation_quaternion` holds): Blender poses a bone as
       M_b = M_parent · (Rest_parent⁻¹ · Rest_b) · Basis_b,
   so Basis_b = Rest_b⁻¹ · Rest_parent · M_parent⁻¹ · M_b; with M = [D·R_rest | head] the rotation part
   is R_b⁻¹ · D_parent⁻¹ · D_b · R_b. Bones with no mapped ancestor (normally only the pelvis) also get
   a location so that their head follows the generated joint.
4. Optional foot lock (`footlock.py`): where a foot is planted (ankle slow and low in the generated
   motion) the ankle is held in place and the thigh and shin are re-aimed with an analytic two-bone IK
   that keeps the knee on its side, which removes the sliding that different leg proportions cause.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import footlock
from .errors import RigError
from .placement import Placement, horizontal_travel, place, root_bone
from .rotations import continuous_quats, frame, matrix_to_quat, swing
from .smpl22 import AIM_CHILD, BONE_LENGTHS, NUM_JOINTS, SPINE_JOINTS


@dataclass
class RigRest:
    """A target armature's rest pose, read from Blender by `rig.read_rest` (or built by hand in tests).

    names    (B,) bone names
    parents  (B,) index of each bone's parent, -1 for none
    matrices (B, 4, 4) `bone.matrix_local`: columns 0-2 are the bone's X, Y (head -> tail), Z axes in
             armature space, column 3 is the head
    world    (4, 4) the armature object's `matrix_world` (object, parents, scale): which way is up
    connected (B,) bool `bone.use_connect`: the head is glued to the parent's tail (location ignored)
    """

    names: list[str]
    parents: np.ndarray
    matrices: np.ndarray
    world: np.ndarray | None = None
    connected: np.ndarray | None = None
    order: np.ndarray = field(init=False)  # parents before children

    def __post_init__(self):
        self.parents = np.asarray(self.parents, dtype=np.int64)
        self.matrices = np.asarray(self.matrices, dtype=np.float64)
        self.world = np.eye(4) if self.world is None else np.asarray(self.world, dtype=np.float64)
        n = len(self.names)
        self.connected = np.zeros(n, bool) if self.connected is None else np.asarray(self.connected, bool)
        if self.world.shape != (4, 4) or abs(np.linalg.det(self.world[:3, :3])) < 1e-12:
            raise RigError(f"the armature's world matrix is degenerate ({self.world.shape}; a zero scale?)")
        n = len(self.names)
        if self.parents.shape != (n,) or self.matrices.shape != (n, 4, 4):
            raise RigError(f"rest pose arrays disagree: {n} names, parents {self.parents.shape}, "
                           f"matrices {self.matrices.shape}")
        self.index = {name: i for i, name in enumerate(self.names)}
        self.order = _topological_order(self.parents)

    @property
    def heads(self) -> np.ndarray:  # (B, 3)
        return self.matrices[:, :3, 3]

    @property
    def rotations(self) -> np.ndarray:  # (B, 3, 3)
        return self.matrices[:, :3, :3]


@dataclass
class RetargetResult:
    bone_names: list[str]  # keyed bones (the mapped ones and unmapped ones above them), rig order
    quaternions: np.ndarray  # (T, K, 4) wxyz pose-bone rotation_quaternion, continuous in time
    located: dict[str, np.ndarray]  # bone -> (T, 3) pose-bone location (bones with no mapped ancestor,
    #                                 and the root bone that carries the travel with in_place)
    placement: Placement
    contacts: np.ndarray  # (T, 2) bool: left / right foot planted (foot lock)
    joint_bones: dict[int, str]  # the bone map used
    # other keyed properties: data path -> ((T, C) values, group), e.g. a control rig's IK/FK switches
    properties: dict[str, tuple[np.ndarray, str]] = field(default_factory=dict)
    _posed: Callable[[], np.ndarray] = field(default=None, repr=False)
    _heads: np.ndarray | None = field(default=None, repr=False)

    @property
    def heads(self) -> np.ndarray:
        """(T, B, 3) armature-space heads of every bone in the retargeted pose (what Blender will show);
        computed on first use: keying does not need them."""
        if self._heads is None:
            self._heads = self._posed()
        return self._heads


def retarget(joints: np.ndarray, rig: RigRest, bone_map: dict[int, str], *, fps: float = 20.0,
             foot_lock: bool = False, in_place: bool = False, root_motion: bool = False,
             placement: Placement | None = None) -> RetargetResult:
    """Pose `rig` to follow `joints` (T, 22, 3) (metres, Y up, SMPL-22 order) through `bone_map`.

    in_place: the pelvis's horizontal travel is taken out of the motion (the hips stay over their start
    in the world). root_motion (with in_place): when the rig has a root bone (`placement.root_bone`)
    that bone gets the travel as location keys instead, as game engines expect. placement: put the
    joints exactly there (a motion sampled from the rig and continued: `rig.sample_motion`) instead of
    over the rest pose, feet on its floor."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3) or len(joints) < 1:
        raise RigError(f"generated joints must be (frames, 22, 3), got {joints.shape}")
    if not np.all(np.isfinite(joints)):
        raise RigError("generated joints contain NaN or inf")
    missing = [name for name in bone_map.values() if name not in rig.index]
    if missing:
        raise RigError(f"bone map names bones the armature does not have: {', '.join(missing)}")
    bone_of = {j: rig.index[name] for j, name in bone_map.items()}

    fixed = placement is not None
    placement = placement if fixed else place(joints, rig.heads, bone_of, rig.world)
    travel = None  # (T, 3) armature-space travel carried by the root bone
    root = None
    if in_place:
        moved = horizontal_travel(joints)
        joints = joints - moved[:, None]
        root = root_bone(rig.parents, rig.heads, bone_of[0], placement) if root_motion else None
        travel = placement.vector_to_rig(moved) if root is not None else None
    targets = placement.to_rig(joints)  # (T, 22, 3) armature space
    aims = _aim_joints(rig, bone_of)
    sides = _side_pairs(bone_of)
    chain = _Chain(rig, bone_of)
    deltas = _deltas(chain, aims, sides, targets, overrides={})
    heads = _posed_heads(chain, deltas, targets)
    if placement.standing and not fixed:  # the rig's own legs decide where its feet land: on its floor
        lift = _floor_lift(heads, bone_of, placement)
        placement.lift(lift)
        targets = targets + lift * placement.up
        heads = heads + lift * placement.up
    contacts = footlock.foot_contacts(joints, fps)
    if foot_lock:
        overrides = footlock.foot_lock(rig.heads, bone_of, aims, targets, heads, contacts)
        if overrides:
            deltas = _deltas(chain, aims, sides, targets, overrides)

    quats = _pose_basis_rotations(chain, deltas)
    located = {rig.names[b]: _pose_basis_location(chain, deltas, targets, b) for b in chain.anchored}
    posed = lambda: _posed_heads(chain, deltas, targets, every_bone=True)  # noqa: E731
    # Unmapped bones above or between mapped ones are keyed at rest: a pose left on them (the last frame
    # of an imported clip on a BVH's root) would otherwise move everything below.
    held = _unmapped_ancestors(rig.parents, chain)
    T = targets.shape[0]
    for b in held:
        located[rig.names[b]] = np.zeros((T, 3))
    moves: dict[int, np.ndarray] = {}  # bone -> (T, 3) armature-space translation of its head
    for b, j in chain.anchored.items():
        carrier = _carrier(rig, b)
        if carrier != b:  # a connected bone ignores location: its unconnected ancestor moves instead
            located.pop(rig.names[b])
            moves[carrier] = targets[:, j] - rig.heads[b]
    if root is not None:
        moves[root] = moves.get(root, 0.0) + travel
        posed = _with_travel(posed, _subtree(rig.parents, root), travel)
    for b, move in moves.items():
        held.append(b) if b not in held and b not in chain.slot else None
        located[rig.names[b]] = move @ rig.rotations[b]  # R⁻¹ · (head_posed - head_rest)
    keyed = sorted(chain.keyed + held)
    rest_quat = np.tile([1.0, 0.0, 0.0, 0.0], (T, 1))
    column = {b: k for k, b in enumerate(chain.keyed)}
    quats = np.stack([quats[:, column[b]] if b in column else rest_quat for b in keyed], axis=1)
    return RetargetResult(
        bone_names=[rig.names[b] for b in keyed],
        quaternions=continuous_quats(quats, axis=0),
        located=located,
        placement=placement,
        contacts=contacts,
        joint_bones=dict(bone_map),
        _posed=posed,
    )


def _floor_lift(heads: np.ndarray, bone_of: dict[int, int], placement: Placement) -> float:
    """How far to move the motion along up so that the posed rig's lowest foot bone over the clip sits
    on the rig's floor: the pelvis follows the generated pelvis, but the rig's own hip offsets and leg
    lengths (MakeHuman's root starts below the hips, say) would otherwise leave the feet floating or
    sunk by the difference."""
    ground = [bone_of[j] for j in ((10, 11) if 10 in bone_of and 11 in bone_of else (7, 8))]
    lowest = float(np.min(heads[:, ground] @ placement.up))
    return placement.floor - lowest


def _carrier(rig: RigRest, b: int) -> int:
    """The bone whose location moves bone b's head: b itself, or, when b is connected to its parent
    (Blender ignores a connected bone's location), its nearest ancestor that is not."""
    while rig.connected[b] and rig.parents[b] >= 0:
        b = int(rig.parents[b])
    return b


def _unmapped_ancestors(parents: np.ndarray, chain: _Chain) -> list[int]:
    """Bones without a joint that some mapped bone hangs below."""
    found: set[int] = set()
    for b in chain.bones:
        p = parents[b]
        while p >= 0 and p not in found:
            if p not in chain.slot:
                found.add(int(p))
            p = parents[p]
    return sorted(found)


def _subtree(parents: np.ndarray, root: int) -> np.ndarray:
    """(B,) bool: `root` and every bone below it."""
    inside = np.zeros(len(parents), dtype=bool)
    for b in range(len(parents)):
        p = b
        while p >= 0 and p != root:
            p = parents[p]
        inside[b] = p == root
    return inside


def _with_travel(posed: Callable[[], np.ndarray], inside: np.ndarray, travel: np.ndarray):
    def heads() -> np.ndarray:
        out = posed()
        out[:, inside] += travel[:, None]
        return out

    return heads


# ---------------------------------------------------------------------------------------------------
# Orientations


def _aim_joints(rig: RigRest, bone_of: dict[int, int]) -> dict[int, int | None]:
    """For each mapped joint, the mapped joint its bone aims at: the next one down its SMPL chain whose
    rig head is not on top of this one (CMU's LowerBack starts where Hips does)."""
    heads = rig.heads
    tol = 1e-4 * max(float(np.linalg.norm(np.ptp(heads, axis=0))), 1e-6)
    aims: dict[int, int | None] = {}
    for j, b in bone_of.items():
        a = AIM_CHILD.get(j)
        while a is not None and not (a in bone_of and np.linalg.norm(heads[bone_of[a]] - heads[b]) > tol):
            a = AIM_CHILD.get(a)
        aims[j] = a
    return aims


def _side_pairs(bone_of: dict[int, int]) -> dict[int, tuple[int, int]]:
    """Joints whose twist comes from a left-right line: the pelvis (hips) and the top spine joint."""
    pairs = {0: (1, 2)}
    top = next((j for j in reversed(SPINE_JOINTS) if j in bone_of), None)
    if top is not None:
        pairs[top] = (13, 14) if 13 in bone_of and 14 in bone_of else (16, 17)
    return pairs


class _Chain:
    """Which mapped bone drives each bone. Unmapped bones turn rigidly with their nearest mapped ancestor
    (its "owner"), so world deltas are only computed for the mapped bones: slot k holds mapped bone
    `bones[k]` (parents first), and slot M (one past the last) is the identity for bones with no
    mapped ancestor, which stay at rest."""

    def __init__(self, rig: RigRest, bone_of: dict[int, int]):
        self.rig = rig
        self.joint_of = {b: j for j, b in bone_of.items()}
        self.bone_of = bone_of
        self.bones = [b for b in rig.order if b in self.joint_of]  # mapped, parents first
        self.slot = {b: k for k, b in enumerate(self.bones)}
        self.identity = len(self.bones)
        self.owner = np.full(len(rig.names), self.identity)  # (B,) slot of nearest mapped ancestor-or-self
        for b in rig.order:
            p = rig.parents[b]
            self.owner[b] = self.slot[b] if b in self.slot else (self.owner[p] if p >= 0 else self.identity)
        self.keyed = sorted(self.bones)
        # Mapped bones without a mapped ancestor get location keys (normally just the pelvis).
        self.anchored = {b: self.joint_of[b] for b in self.keyed
                         if rig.parents[b] < 0 or self.owner[rig.parents[b]] == self.identity}

    def parent_slot(self, b: int) -> int:
        p = self.rig.parents[b]
        return self.owner[p] if p >= 0 else self.identity

    def owner_bone(self, slot: int) -> int | None:
        return None if slot == self.identity else self.bones[slot]


def _deltas(chain: _Chain, aims: dict[int, int | None], sides: dict[int, tuple[int, int]],
            targets: np.ndarray, overrides: dict[int, np.ndarray]) -> np.ndarray:
    """(T, M + 1, 3, 3) world-space deltas of the mapped bones (posed orientation = D · rest
    orientation), in `chain.bones` order, plus the identity in the last slot."""
    T = targets.shape[0]
    heads = chain.rig.heads
    bone_of = chain.bone_of
    deltas = np.empty((T, chain.identity + 1, 3, 3))
    deltas[:, chain.identity] = np.eye(3)
    for k, b in enumerate(chain.bones):
        parent = deltas[:, chain.parent_slot(b)]
        j = chain.joint_of[b]
        a = aims.get(j)
        if a is None:  # leaf joint (head, wrist, toe): rigid with the parent
            deltas[:, k] = parent
            continue
        rest_aim = heads[bone_of[a]] - heads[b]  # (3,)
        aim = overrides.get(j)
        aim = targets[:, a] - targets[:, j] if aim is None else aim  # (T, 3)
        d = swing(parent @ rest_aim, aim) @ parent
        if j in sides:
            left, right = sides[j]
            rest_frame, rest_ok = frame(rest_aim, heads[bone_of[left]] - heads[bone_of[right]])
            gen_frame, ok = frame(aim, targets[:, left] - targets[:, right])
            if rest_ok:
                d = np.where(ok[:, None, None], gen_frame @ rest_frame.T, d)
        deltas[:, k] = d
    return deltas


def _posed_heads(chain: _Chain, deltas: np.ndarray, targets: np.ndarray,
                 every_bone: bool = False) -> np.ndarray:
    """(T, B, 3) forward kinematics of the rig. A head hangs off its owner (nearest mapped ancestor):
    H_b = H_owner + D_owner · (rest_b - rest_owner); anchored bones sit on their generated joint; bones
    with no mapped ancestor stay at rest. Unless `every_bone`, unmapped bones under a mapped one are
    left NaN (the foot lock needs only the legs)."""
    rest = chain.rig.heads
    T = deltas.shape[0]
    out = np.empty((T, len(rest), 3))
    out[:] = np.where((chain.owner == chain.identity)[:, None], rest, np.nan)
    for b in chain.bones:  # mapped bones, parents first
        if b in chain.anchored:
            out[:, b] = targets[:, chain.anchored[b]]
        else:
            k = chain.parent_slot(b)
            ob = chain.owner_bone(k)
            out[:, b] = out[:, ob] + deltas[:, k] @ (rest[b] - rest[ob])
    others = np.array([b for b in range(len(rest)) if b not in chain.slot
                       and chain.owner[b] != chain.identity], dtype=np.int64)
    if every_bone and len(others):  # every unmapped bone under a mapped one, in one batch
        slots = chain.owner[others]
        owners = np.array([chain.bones[k] for k in slots])
        offsets = rest[others] - rest[owners]  # (n, 3)
        out[:, others] = out[:, owners] + np.einsum("tnij,nj->tni", deltas[:, slots], offsets)
    return out


# ---------------------------------------------------------------------------------------------------
# Pose basis


def _pose_basis_rotations(chain: _Chain, deltas: np.ndarray) -> np.ndarray:
    """(T, K, 4): rotation part of Basis_b = R_b⁻¹ · D_parent⁻¹ · D_b · R_b for each keyed bone."""
    keyed = chain.keyed
    rest = chain.rig.rotations[keyed]  # (K, 3, 3)
    d_bone = deltas[:, [chain.slot[b] for b in keyed]]  # (T, K, 3, 3)
    d_parent = deltas[:, [chain.parent_slot(b) for b in keyed]]
    local = np.swapaxes(d_parent, -1, -2) @ d_bone
    return matrix_to_quat(np.swapaxes(rest, -1, -2) @ local @ rest)


def _pose_basis_location(chain: _Chain, deltas: np.ndarray, targets: np.ndarray, b: int) -> np.ndarray:
    """(T, 3) translation of Basis_b = Rest_b⁻¹ · Rest_p · M_p⁻¹ · M_b for an anchored bone: its head
    goes to its generated joint, and its parent (having no mapped ancestor) stays at rest, M_p = Rest_p,
    so the translation is R_b⁻¹ (head_posed - head_rest) whether or not the bone has a parent."""
    rest_b = chain.rig.matrices[b]
    head = targets[:, chain.anchored[b]]  # (T, 3)
    return (head - rest_b[:3, 3]) @ rest_b[:3, :3]


def _topological_order(parents: np.ndarray) -> np.ndarray:
    depth = np.zeros(len(parents), dtype=np.int64)
    for i in range(len(parents)):
        p, d, seen = parents[i], 0, 0
        while p >= 0:
            d += 1
            p = parents[p]
            seen += 1
            if seen > len(parents):
                raise RigError("the armature's bone parents form a cycle")
        depth[i] = d
    return np.argsort(depth, kind="stable")


def smpl_leg_length() -> float:
    """Thigh + shin of the SMPL-22 target skeleton (m): the default scale reference."""
    return float(0.5 * (BONE_LENGTHS[4] + BONE_LENGTHS[7] + BONE_LENGTHS[5] + BONE_LENGTHS[8]))


