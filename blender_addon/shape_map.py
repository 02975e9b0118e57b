"""Mapping by shape: the 22 body joints found from an armature's hierarchy and rest pose when no preset's
bone names fit (docs/blender.md, "Mapping by shape"). numpy only.

Chains from the body root, as a person is built: two legs go down to the lowest bones and fork at the
pelvis; a spine goes up to the highest bone and forks into two arms (the bones that reach farthest to
each side) and a neck. Left and right come from the rest pose: the feet point forward and
left = up x forward. Bone names are only hints: a 'head' word picks the head on the neck chain, and a
side word that contradicts the geometry lowers the confidence (the geometry still decides).

Along a chain, twist and helper bones are skipped by proportions, not by names: the thigh and shin are
the (hip, knee) pair whose lengths come closest to a person's (thigh 1.1 x shin), the shoulder and
elbow split the collar-to-wrist path like a person's arm (0.21 and 0.63 of the way).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import RigError
from .names import words

LOW = 0.15  # of the body's height: leaves this close to the lowest point are feet
FORK_HEIGHT = 0.3  # of the body's height: the legs' fork sits at least this high (a floor root is no pelvis)
THIGH_SHIN = 1.1  # a person's thigh / shin length (hip, knee and ankle centres)
ANKLE = 0.25  # of the fork's height: the first leg bone this low is the ankle
HIP_AT_FORK = 0.05  # of fork -> ankle: a leg bone whose head is this close to the fork is a pelvis helper
FAR_LEAF = 0.75  # of the arm's reach: leaves this far out are fingers (twist leaves sit mid-arm)
ARM_COLLAR = (0.21, 0.63)  # shoulder, elbow along the collar -> wrist path (a person's proportions)
ARM_ELBOW = 0.53  # elbow along the shoulder -> wrist path
FORE_UPPER = 0.88  # forearm / upper arm length
NO_COLLAR_COST = 0.01  # an arm without a collar bone must fit clearly better to be read that way
NECK_AT_SHOULDERS = 0.1  # of the torso: an arm fork this close to the shoulders' height is the neck
HEAD_BELOW = 0.75  # of neck -> top of the head: the head bone's head sits lower than this
MIDLINE = 0.03  # of the body's height: a head bone sits this close to the neck's left-right middle
SYMMETRY = 0.97  # left / right limb lengths: below this the confidence drops steeply
MIN_CONFIDENCE = 0.6  # Auto-detect uses a map by shape only this sure (the panel shows any)


@dataclass
class ShapeMap:
    joints: dict[int, str]  # SMPL-22 joint index -> bone name
    confidence: float  # 0..1: symmetry, proportions, and side names that agree with the rest pose
    notes: tuple[str, ...] = ()  # why the confidence is below 1


class _Tree:
    def __init__(self, names: list[str], parents: list[int], heads: np.ndarray, tails: np.ndarray,
                 up: np.ndarray):
        self.names = list(names)
        self.parents = [int(p) for p in parents]
        self.heads = np.asarray(heads, dtype=np.float64)
        self.tails = np.asarray(tails, dtype=np.float64)
        self.up = up / np.linalg.norm(up)
        self.children: list[list[int]] = [[] for _ in self.names]
        for b, p in enumerate(self.parents):
            if p >= 0:
                self.children[p].append(b)
        self.h = self.heads @ self.up
        self.top_h = np.maximum(self.h, self.tails @ self.up)
        self.low_h = np.minimum(self.h, self.tails @ self.up)
        self.floor = float(self.low_h.min())
        self.span = max(float(self.top_h.max()) - self.floor, 1e-9)

    def ancestors(self, b: int) -> list[int]:
        """b, its parent, ... up to the root."""
        out = [b]
        while self.parents[out[-1]] >= 0:
            out.append(self.parents[out[-1]])
        return out

    def lca(self, a: int, b: int) -> int:
        """The deepest common ancestor (or self) of a and b; -1 when they are in separate trees."""
        above = set(self.ancestors(a))
        return next((x for x in self.ancestors(b) if x in above), -1)

    def path(self, top: int, bottom: int) -> list[int]:
        """Bones from just below `top` down to `bottom` (top must be an ancestor of bottom)."""
        chain = self.ancestors(bottom)
        return list(reversed(chain[:chain.index(top)]))

    def below(self, b: int) -> list[int]:
        out, stack = [], [b]
        while stack:
            x = stack.pop()
            out.append(x)
            stack.extend(self.children[x])
        return out

    def leaves(self, root: int | None = None) -> list[int]:
        bones = range(len(self.names)) if root is None else self.below(root)
        return [b for b in bones if not self.children[b]]

    def dist(self, a: int, b: int) -> float:
        return float(np.linalg.norm(self.heads[a] - self.heads[b]))


def map_by_shape(names: list[str], parents: list[int], heads: np.ndarray, tails: np.ndarray,
                 up: np.ndarray, front: np.ndarray) -> ShapeMap:
    """Map an armature's bones onto the 22 joints by its shape. heads/tails (B, 3) in armature space, `up`
    the world's up and `front` the world's -Y (Blender's front view) carried into armature space, used
    only when the feet do not say which way the body faces. A RigError says which part was not found."""
    t = _Tree(names, parents, heads, tails, np.asarray(up, dtype=np.float64))
    if len(names) < 10:
        raise RigError(f"the armature has {len(names)} bones; a body needs at least legs, spine and arms")
    notes: list[str] = []
    fork, feet = _leg_fork(t)
    legs = [_leg(t, fork, foot) for foot in feet]
    forward = _forward(t, [leg["ankle"] for leg in legs], np.asarray(front, dtype=np.float64))
    left = np.cross(t.up, forward)
    left /= np.linalg.norm(left)
    side = float((t.heads[legs[0]["hip"]] - t.heads[legs[1]["hip"]]) @ left)
    if side < 0:
        legs.reverse()
    joints: dict[int, int] = {}
    for leg, (hip, knee, ankle, toe) in zip(legs, ((1, 4, 7, 10), (2, 5, 8, 11))):
        joints.update({hip: leg["hip"], knee: leg["knee"], ankle: leg["ankle"]})
        found = _toe(t, leg["ankle"], forward, leg["length"])
        if found is not None:
            joints[toe] = found
    body = _body(t, fork, legs, left)
    joints.update(body)
    confidence = 1.0
    for name, pairs in (("legs", ((1, 4, 7), (2, 5, 8))), ("arms", ((16, 18, 20), (17, 19, 21)))):
        a, b = (t.dist(joints[x], joints[y]) + t.dist(joints[y], joints[z]) for x, y, z in pairs)
        ratio = min(a, b) / max(a, b, 1e-12)
        if ratio < SYMMETRY:  # a person's limbs match within a few percent: a bone is missing or misread
            notes.append(f"the {name} differ in length ({ratio:.2f})")
        confidence *= min(1.0, ratio / SYMMETRY) ** 4
    if (13 in joints) != (14 in joints):
        notes.append("one arm has a collar bone, the other none")
        confidence *= 0.5
    fit = np.exp(-max(0.0, sum(leg["misfit"] for leg in legs) - 0.2))
    if fit < 0.8:
        notes.append("the thigh and shin lengths are unlike a person's")
    confidence *= float(fit)
    contradicted = _side_names_contradict(t, joints)
    if contradicted:
        notes.append(f"bone names say the other side ({', '.join(contradicted[:3])})")
        confidence *= 0.5
    absent = [j for j in (10, 11, 13, 14, 15) if j not in joints]
    confidence *= 0.97 ** len(absent)
    return ShapeMap({j: t.names[b] for j, b in sorted(joints.items())}, round(confidence, 2), tuple(notes))


def _leg_fork(t: _Tree) -> tuple[int, tuple[int, int]]:
    """The bone the two legs fork from, and one foot leaf on each leg."""
    low = [b for b in t.leaves() if t.low_h[b] < t.floor + LOW * t.span]
    best = None
    for i, a in enumerate(low):
        for b in low[i + 1:]:
            fork = t.lca(a, b)
            if fork < 0 or fork in (a, b) or t.h[fork] < t.floor + FORK_HEIGHT * t.span:
                continue
            # Deepest fork first (a pelvis below a root), then the lowest pair of feet.
            key = (len(t.ancestors(fork)), -(t.low_h[a] + t.low_h[b]))
            if best is None or key > best[0]:
                best = (key, fork, (a, b))
    if best is None:
        raise RigError("no two legs found: no bone at hip height has two chains that reach the floor "
                       "(is the rest pose standing?)")
    return best[1], best[2]


def _leg(t: _Tree, fork: int, foot: int) -> dict:
    """Hip, knee and ankle on the chain from the fork down to a foot leaf."""
    chain = t.path(fork, foot)
    fork_h = t.h[fork] - t.floor
    ankle_at = next((i for i, b in enumerate(chain) if t.h[b] < t.floor + ANKLE * fork_h), None)
    if ankle_at is None or ankle_at < 2:
        raise RigError(f"the leg down to {t.names[foot]!r} has no thigh and shin above its ankle")
    ankle = chain[ankle_at]
    # CMU's LHipJoint and MakeHuman's pelvis.L start at the fork: pelvis helpers, not hips.
    scale = t.dist(fork, ankle)
    legs = [b for b in chain[:ankle_at] if t.dist(b, fork) >= HIP_AT_FORK * scale]
    if len(legs) < 2:
        raise RigError(f"the leg down to {t.names[foot]!r} has no thigh and shin above its ankle")
    longest = max(t.dist(b, ankle) for b in legs)
    best = None
    for i, hip in enumerate(legs):
        for knee in legs[i + 1:]:
            thigh, shin = t.dist(hip, knee), t.dist(knee, ankle)
            if thigh <= 0 or shin <= 0:
                continue
            # Thigh a little longer than the shin, and the pair spanning the leg (not a twist bone's half).
            misfit = abs(np.log(thigh / shin / THIGH_SHIN)) + np.log(longest / (thigh + shin))
            if best is None or misfit < best[0]:
                best = (misfit, hip, knee, thigh + shin)
    if best is None:
        raise RigError(f"the leg down to {t.names[foot]!r} has bones of zero length")
    return {"hip": best[1], "knee": best[2], "ankle": ankle, "length": best[3], "misfit": best[0]}


def _horizontal(t: _Tree, v: np.ndarray) -> np.ndarray:
    return v - (v @ t.up) * t.up


def _forward(t: _Tree, ankles: list[int], front: np.ndarray) -> np.ndarray:
    """Where the body faces: the feet's direction (ankle bone, else its children), else `front`."""
    for vectors in ([t.tails[a] - t.heads[a] for a in ankles],
                    [t.heads[c] - t.heads[a] for a in ankles for c in t.children[a]]):
        if not vectors:
            continue
        total = sum(_horizontal(t, v) for v in vectors)
        size = sum(np.linalg.norm(v) for v in vectors)
        if np.linalg.norm(total) > 0.3 * size > 0:
            return total / np.linalg.norm(total)
    f = _horizontal(t, front)
    if np.linalg.norm(f) < 1e-9:
        raise RigError("cannot tell which way the rest pose faces")
    return f / np.linalg.norm(f)


def _toe(t: _Tree, ankle: int, forward: np.ndarray, leg: float) -> int | None:
    """The bone at the ball of the foot: the ankle's descendant (two levels) that reaches most forward."""
    near = [c for c in t.children[ankle]] + [g for c in t.children[ankle] for g in t.children[c]]
    ahead = [(float((t.heads[c] - t.heads[ankle]) @ forward), c) for c in near]
    ahead = [(d, c) for d, c in ahead if d > 0.05 * leg]
    return max(ahead)[1] if ahead else None


def _body(t: _Tree, fork: int, legs: list[dict], left: np.ndarray) -> dict[int, int]:
    """Pelvis, spine, neck, head, collars and arms."""
    in_legs = {b for leg in legs for b in t.below(t.path(fork, leg["hip"])[0])}
    others = [b for b in t.leaves() if b not in in_legs]
    if not others:
        raise RigError("no spine found: every bone belongs to the legs")
    others = [b for b in others if t.lca(fork, b) >= 0]  # bones in the legs' own tree
    if not others:
        raise RigError("no spine found: nothing but the legs hangs from the legs' root bone")
    top = max(others, key=lambda b: t.top_h[b])
    pelvis = t.lca(fork, top)
    reach = [(float((t.tails[b] - t.heads[pelvis]) @ left), b) for b in t.leaves(pelvis) if b not in in_legs]
    (right_x, right_hand), (left_x, left_hand) = min(reach), max(reach)
    if not left_x > 0 > right_x:
        raise RigError("no two arms found: no bones reach out to both sides of the body")
    chest = t.lca(left_hand, right_hand)
    if chest < 0 or chest not in t.ancestors(top) or chest == pelvis or pelvis not in t.ancestors(chest):
        raise RigError(f"the arms fork at {t.names[chest]!r}, which is not on the spine from "
                       f"{t.names[pelvis]!r} up to {t.names[top]!r}")
    joints = {0: pelvis}
    arms = [_arm(t, chest, hand) for hand in (left_hand, right_hand)]
    for arm, (collar, shoulder, elbow, wrist) in zip(arms, ((13, 16, 18, 20), (14, 17, 19, 21))):
        joints.update({shoulder: arm["shoulder"], elbow: arm["elbow"], wrist: arm["wrist"]})
        if arm["collar"] is not None:
            joints[collar] = arm["collar"]
    shoulders_h = float(np.mean([t.h[a["shoulder"]] for a in arms]))
    torso = shoulders_h - t.h[pelvis]
    spine = t.path(pelvis, chest)
    neck_chain = t.path(chest, top)
    # 3ds Max Biped: the clavicles hang from the neck, level with the shoulders, and above it comes
    # only the head (a neck read above it would leave no head).
    at_shoulders = t.h[chest] > shoulders_h - NECK_AT_SHOULDERS * torso
    if at_shoulders and (not neck_chain or _head(t, neck_chain, top, left) is None):
        spine, neck_chain = spine[:-1], [chest] + neck_chain
    if not spine:
        raise RigError(f"no spine bone between the pelvis {t.names[pelvis]!r} and the neck")
    if not neck_chain:
        raise RigError(f"no neck or head bone above {t.names[chest]!r}")
    joints[9] = spine[-1]
    if len(spine) >= 2:
        joints[3] = spine[0]
    if len(spine) >= 3:
        mid = 0.5 * (t.h[spine[0]] + t.h[spine[-1]])
        joints[6] = min(spine[1:-1], key=lambda b: abs(t.h[b] - mid))
    joints[12] = neck_chain[0]
    head = _head(t, neck_chain, top, left)
    if head is not None:
        joints[15] = head
    return joints


def _arm(t: _Tree, chest: int, hand: int) -> dict:
    """Collar (if any), shoulder, elbow and wrist on the chain from the chest out to a hand leaf."""
    root = t.path(chest, hand)[0]
    leaves = t.leaves(root)
    reach = {b: float(np.linalg.norm(t.tails[b] - t.heads[root])) for b in leaves}
    far = [b for b in leaves if reach[b] >= FAR_LEAF * max(reach.values())]
    lca = far[0]
    for b in far[1:]:
        lca = t.lca(lca, b)  # all under `root`: never -1
    wrists = [w for w in t.ancestors(lca)[:3] if w != root and root in t.ancestors(w)]
    options = [o for w in wrists for o in _arm_options(t, [root] + t.path(root, w))]
    if not options:
        raise RigError(f"the arm from {t.names[root]!r} has no upper arm and forearm before its hand")
    _, collar, shoulder, elbow, wrist = min(options, key=lambda o: o[0])
    return {"collar": collar, "shoulder": shoulder, "elbow": elbow, "wrist": wrist}


def _arm_options(t: _Tree, chain: list[int]) -> list[tuple]:
    """(cost, collar or None, shoulder, elbow, wrist) for each way of reading `chain` (ending at a wrist
    candidate) as an arm: the fractions along it against a person's, and the forearm about as long as
    the upper arm (a finger bone taken for the wrist makes it longer)."""
    if len(chain) < 3:
        return []
    cum = np.concatenate([[0.0], np.cumsum([t.dist(a, b) for a, b in zip(chain, chain[1:])])])
    n, wrist = len(chain) - 1, chain[-1]
    if cum[-1] <= 0:
        return []

    def ratio(shoulder: int, elbow: int) -> float:
        upper, fore = t.dist(shoulder, elbow), t.dist(elbow, wrist)
        return 0.2 * abs(np.log(fore / upper / FORE_UPPER)) if upper > 0 and fore > 0 else 10.0

    out = []
    for b in range(1, n):  # no collar: shoulder = chain[0]
        cost = (cum[b] / cum[-1] - ARM_ELBOW) ** 2 + NO_COLLAR_COST + ratio(chain[0], chain[b])
        out.append((cost, None, chain[0], chain[b], wrist))
    for a in range(1, n - 1):  # collar = chain[0]
        for b in range(a + 1, n):
            cost = ((cum[a] / cum[-1] - ARM_COLLAR[0]) ** 2 + (cum[b] / cum[-1] - ARM_COLLAR[1]) ** 2
                    + ratio(chain[a], chain[b]))
            out.append((cost, chain[0], chain[a], chain[b], wrist))
    return out


def _head(t: _Tree, neck_chain: list[int], top: int, left: np.ndarray) -> int | None:
    """The head bone above the neck: a bone named 'head' on the chain, else, while the chain still rises
    up the body's midline (before it turns into a face rig's brows and cheeks), the highest bone whose
    head sits below HEAD_BELOW of the way from the neck to the top of the head; of bones level with
    it, the first (the skull, not its face child)."""
    rest = neck_chain[1:]
    named = [b for b in rest if "head" in (ws := set(words(t.names[b])[1])) and not {"top", "end"} & ws]
    if named:
        return named[0]
    neck = neck_chain[0]
    limit = t.h[neck] + HEAD_BELOW * (t.top_h[top] - t.h[neck])
    rising, previous = [], t.h[neck]  # the chain up the middle, until it turns down into a face
    for b in rest:
        if t.h[b] < previous - 1e-3 * t.span or abs(float((t.heads[b] - t.heads[neck]) @ left)) > (
                MIDLINE * t.span):
            break
        rising.append(b)
        previous = t.h[b]
    below = [b for b in rising if t.h[b] <= limit + 1e-6 * t.span]
    if not below:
        return None
    highest = max(t.h[b] for b in below)
    return next(b for b in below if t.h[b] >= highest - 1e-3 * t.span)


def _side_names_contradict(t: _Tree, joints: dict[int, int]) -> list[str]:
    """Mapped bones whose name's side word says the opposite of where the rest pose has them."""
    left_joints = {1, 4, 7, 10, 13, 16, 18, 20}
    right_joints = {2, 5, 8, 11, 14, 17, 19, 21}
    out = []
    for j, b in joints.items():
        side = words(t.names[b])[0]
        if (j in left_joints and side == "R") or (j in right_joints and side == "L"):
            out.append(t.names[b])
    return out
