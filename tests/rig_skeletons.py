"""Skeletons of the rigs people have, as bone names and parents (written from the tools' naming: Daz
Genesis 2/8/9, MakeHuman default and game-engine, Reallusion CC_Base, VRoid, Unity humanoid, 3ds Max
Biped). Used by tests/test_blender_presets.py (detection) and tests/test_blender_rigs.py (animation)."""

from __future__ import annotations


def skeleton(spec: str) -> tuple[list[str], list[int]]:
    """'child < parent' lines (a line without '<' is a root) -> (names, parents). An 'L'/'l' side marker
    written as {s} expands to both sides, the right side with the same spelling in upper or lower case."""
    lines = []
    for line in spec.strip().splitlines():
        line = line.strip()
        if "{s}" in line or "{S}" in line:
            for lo, up in (("l", "L"), ("r", "R")):
                lines.append(line.replace("{s}", lo).replace("{S}", up))
        else:
            lines.append(line)
    pairs = [tuple(part.strip() for part in ln.split("<")) for ln in lines]
    order = [p[0] for p in pairs]
    index = {n: i for i, n in enumerate(order)}
    return order, [index[p[1]] if len(p) > 1 else -1 for p in pairs]


GENESIS_8 = """
hip
pelvis < hip
{s}ThighBend < pelvis
{s}ThighTwist < {s}ThighBend
{s}Shin < {s}ThighTwist
{s}Foot < {s}Shin
{s}Metatarsals < {s}Foot
{s}Toe < {s}Metatarsals
abdomenLower < hip
abdomenUpper < abdomenLower
chestLower < abdomenUpper
chestUpper < chestLower
neckLower < chestUpper
neckUpper < neckLower
head < neckUpper
{s}Eye < head
{s}Pectoral < chestUpper
{s}Collar < chestUpper
{s}ShldrBend < {s}Collar
{s}ShldrTwist < {s}ShldrBend
{s}ForearmBend < {s}ShldrTwist
{s}ForearmTwist < {s}ForearmBend
{s}Hand < {s}ForearmTwist
{s}Thumb1 < {s}Hand
"""
GENESIS_2 = """
hip
pelvis < hip
{s}Thigh < pelvis
{s}Shin < {s}Thigh
{s}Foot < {s}Shin
{s}Toe < {s}Foot
abdomen < hip
abdomen2 < abdomen
chest < abdomen2
neck < chest
head < neck
{s}Collar < chest
{s}Shldr < {s}Collar
{s}ForeArm < {s}Shldr
{s}Hand < {s}ForeArm
"""
GENESIS_9 = """
hip
pelvis < hip
{s}_thigh < pelvis
{s}_thightwist1 < {s}_thigh
{s}_shin < {s}_thigh
{s}_foot < {s}_shin
{s}_metatarsal < {s}_foot
{s}_toes < {s}_metatarsal
spine1 < hip
spine2 < spine1
spine3 < spine2
spine4 < spine3
neck1 < spine4
neck2 < neck1
head < neck2
{s}_shoulder < spine4
{s}_upperarm < {s}_shoulder
{s}_upperarmtwist1 < {s}_upperarm
{s}_forearm < {s}_upperarm
{s}_forearmtwist1 < {s}_forearm
{s}_hand < {s}_forearm
"""
MAKEHUMAN_DEFAULT = """
root
spine05 < root
spine04 < spine05
spine03 < spine04
spine02 < spine03
spine01 < spine02
neck01 < spine01
neck02 < neck01
neck03 < neck02
head < neck03
clavicle.{S} < spine01
shoulder01.{S} < clavicle.{S}
upperarm01.{S} < shoulder01.{S}
upperarm02.{S} < upperarm01.{S}
lowerarm01.{S} < upperarm02.{S}
lowerarm02.{S} < lowerarm01.{S}
wrist.{S} < lowerarm02.{S}
pelvis.{S} < root
upperleg01.{S} < pelvis.{S}
upperleg02.{S} < upperleg01.{S}
lowerleg01.{S} < upperleg02.{S}
lowerleg02.{S} < lowerleg01.{S}
foot.{S} < lowerleg02.{S}
toe1-1.{S} < foot.{S}
"""
MAKEHUMAN_GAME = """
Root
pelvis < Root
spine_01 < pelvis
spine_02 < spine_01
spine_03 < spine_02
neck_01 < spine_03
head < neck_01
clavicle_{s} < spine_03
upperarm_{s} < clavicle_{s}
lowerarm_{s} < upperarm_{s}
hand_{s} < lowerarm_{s}
thigh_{s} < pelvis
calf_{s} < thigh_{s}
foot_{s} < calf_{s}
ball_{s} < foot_{s}
"""
CC_BASE = """
RL_BoneRoot
CC_Base_Hip < RL_BoneRoot
CC_Base_Pelvis < CC_Base_Hip
CC_Base_{S}_Thigh < CC_Base_Pelvis
CC_Base_{S}_Calf < CC_Base_{S}_Thigh
CC_Base_{S}_Foot < CC_Base_{S}_Calf
CC_Base_{S}_ToeBaseShareBone < CC_Base_{S}_Foot
CC_Base_{S}_ToeBase < CC_Base_{S}_Foot
CC_Base_{S}_CalfTwist01 < CC_Base_{S}_Calf
CC_Base_{S}_ThighTwist01 < CC_Base_{S}_Thigh
CC_Base_Waist < CC_Base_Hip
CC_Base_Spine01 < CC_Base_Waist
CC_Base_Spine02 < CC_Base_Spine01
CC_Base_NeckTwist01 < CC_Base_Spine02
CC_Base_NeckTwist02 < CC_Base_NeckTwist01
CC_Base_Head < CC_Base_NeckTwist02
CC_Base_{S}_Clavicle < CC_Base_Spine02
CC_Base_{S}_Upperarm < CC_Base_{S}_Clavicle
CC_Base_{S}_UpperarmTwist01 < CC_Base_{S}_Upperarm
CC_Base_{S}_Forearm < CC_Base_{S}_Upperarm
CC_Base_{S}_ForearmTwist01 < CC_Base_{S}_Forearm
CC_Base_{S}_Hand < CC_Base_{S}_Forearm
"""
VROID = """
Root
J_Bip_C_Hips < Root
J_Bip_C_Spine < J_Bip_C_Hips
J_Bip_C_Chest < J_Bip_C_Spine
J_Bip_C_UpperChest < J_Bip_C_Chest
J_Bip_C_Neck < J_Bip_C_UpperChest
J_Bip_C_Head < J_Bip_C_Neck
J_Sec_Hair1_01 < J_Bip_C_Head
J_Sec_Hair2_01 < J_Bip_C_Head
J_Adj_{S}_FaceEye < J_Bip_C_Head
J_Bip_{S}_Shoulder < J_Bip_C_UpperChest
J_Bip_{S}_UpperArm < J_Bip_{S}_Shoulder
J_Bip_{S}_LowerArm < J_Bip_{S}_UpperArm
J_Bip_{S}_Hand < J_Bip_{S}_LowerArm
J_Bip_{S}_UpperLeg < J_Bip_C_Hips
J_Bip_{S}_LowerLeg < J_Bip_{S}_UpperLeg
J_Bip_{S}_Foot < J_Bip_{S}_LowerLeg
J_Bip_{S}_ToeBase < J_Bip_{S}_Foot
"""
UNITY = """
Armature
Hips < Armature
Spine < Hips
Chest < Spine
UpperChest < Chest
Neck < UpperChest
Head < Neck
LeftShoulder < UpperChest
LeftUpperArm < LeftShoulder
LeftLowerArm < LeftUpperArm
LeftHand < LeftLowerArm
RightShoulder < UpperChest
RightUpperArm < RightShoulder
RightLowerArm < RightUpperArm
RightHand < RightLowerArm
LeftUpperLeg < Hips
LeftLowerLeg < LeftUpperLeg
LeftFoot < LeftLowerLeg
LeftToes < LeftFoot
RightUpperLeg < Hips
RightLowerLeg < RightUpperLeg
RightFoot < RightLowerLeg
RightToes < RightFoot
"""
BIPED = """
Bip001
Bip001 Pelvis < Bip001
Bip001 Spine < Bip001 Pelvis
Bip001 Spine1 < Bip001 Spine
Bip001 Spine2 < Bip001 Spine1
Bip001 Neck < Bip001 Spine2
Bip001 Head < Bip001 Neck
Bip001 {S} Clavicle < Bip001 Neck
Bip001 {S} UpperArm < Bip001 {S} Clavicle
Bip001 {S} Forearm < Bip001 {S} UpperArm
Bip001 {S} Hand < Bip001 {S} Forearm
Bip001 {S} Thigh < Bip001 Pelvis
Bip001 {S} Calf < Bip001 {S} Thigh
Bip001 {S} Foot < Bip001 {S} Calf
Bip001 {S} Toe0 < Bip001 {S} Foot
"""


# A person in a T-pose with real proportions (metres, Z up, facing -Y, left = +X): where the bones that
# sit at the body joints have their heads, for rigs mapped by shape (tests/test_blender_shape.py).
T_POSE = {
    0: (0.0, 0.0, 0.95), 1: (0.09, 0.0, 0.90), 2: (-0.09, 0.0, 0.90), 3: (0.0, 0.01, 1.06),
    4: (0.10, -0.01, 0.50), 5: (-0.10, -0.01, 0.50), 6: (0.0, 0.01, 1.18), 7: (0.10, 0.02, 0.09),
    8: (-0.10, 0.02, 0.09), 9: (0.0, 0.0, 1.30), 10: (0.10, -0.11, 0.02), 11: (-0.10, -0.11, 0.02),
    12: (0.0, 0.0, 1.50), 13: (0.03, 0.0, 1.42), 14: (-0.03, 0.0, 1.42), 15: (0.0, -0.01, 1.60),
    16: (0.18, 0.0, 1.44), 17: (-0.18, 0.0, 1.44), 18: (0.47, 0.01, 1.44), 19: (-0.47, 0.01, 1.44),
    20: (0.72, 0.0, 1.44), 21: (-0.72, 0.0, 1.44),
}


def shape_rest(names: list[str], parents: list[int], at: dict[str, int], scale: float = 1.0,
               helpers: dict[str, str] | None = None):
    """(heads, tails) (B, 3) of a rig whose bones named in `at` (bone -> SMPL joint) have their heads at
    T_POSE's joints. Other bones: between their nearest placed ancestor and descendants (twist bones,
    hip helpers), or continuing their parent's direction (fingers, eyes, toe tips); a bone with no placed
    bone above or below sits on the floor under the pelvis (a root). Tails: the first child's head, else
    the head plus half the parent's bone. `helpers`: bones whose head sits on another bone's head
    (MakeHuman's pelvis.L on root)."""
    import numpy as np

    heads: dict[int, np.ndarray] = {names.index(b): np.array(T_POSE[j]) for b, j in at.items()}
    for bone, on in (helpers or {}).items():
        heads[names.index(bone)] = heads[names.index(on)]
    children = {i: [c for c, p in enumerate(parents) if p == i] for i in range(len(names))}

    def placed_below(i):
        out = []
        for c in children[i]:
            out += [heads[c]] if c in heads else placed_below(c)
        return out

    order = sorted(range(len(names)), key=lambda i: _depth(parents, i))
    for i in order:
        if i in heads:
            continue
        below, p = placed_below(i), parents[i]
        if below and p >= 0:
            heads[i] = 0.5 * (heads[p] + np.mean(below, axis=0))
        elif below:
            heads[i] = np.array([0.0, 0.0, 0.0])
        else:
            gp = parents[p] if p >= 0 else -1
            step = heads[p] - heads[gp] if gp >= 0 else np.array([0.0, 0.0, 0.1])
            step = step if np.linalg.norm(step) > 1e-6 else np.array([0.0, 0.0, 0.05])
            heads[i] = heads[p] + 0.3 * step
    tails = {}
    for i in range(len(names)):
        ends = [heads[c] for c in children[i] if np.linalg.norm(heads[c] - heads[i]) > 1e-4]
        p = parents[i]
        step = heads[i] - heads[p] if p >= 0 and np.linalg.norm(heads[i] - heads[p]) > 1e-4 else (
            np.array([0.0, 0.0, 0.1]))
        tails[i] = ends[0] if ends else heads[i] + 0.5 * step
    stack = lambda d: np.stack([d[i] for i in range(len(names))]) * scale  # noqa: E731
    return stack(heads), stack(tails)


def _depth(parents: list[int], i: int) -> int:
    d = 0
    while parents[i] >= 0:
        i, d = parents[i], d + 1
    return d


# MakeHuman 1.x's "game" skeleton: Hips (the legs' parent) is a sibling of the spine under Root, so the
# body root (Root) is the only bone both hang from.
MAKEHUMAN_GAME_1 = """
Root
Hips < Root
UpLeg_{S} < Hips
LoLeg_{S} < UpLeg_{S}
Foot_{S} < LoLeg_{S}
Toe_{S} < Foot_{S}
Spine1 < Root
Spine2 < Spine1
Spine3 < Spine2
Neck < Spine3
Head < Neck
Jaw < Head
Eye_{S} < Head
Clavicle_{S} < Spine3
UpArm_{S} < Clavicle_{S}
LoArm_{S} < UpArm_{S}
Hand_{S} < LoArm_{S}
Wrist-1_{S} < Hand_{S}
Palm-2_{S} < Wrist-1_{S}
Finger-2-1_{S} < Palm-2_{S}
Finger-2-2_{S} < Finger-2-1_{S}
Wrist-2_{S} < Hand_{S}
Palm-4_{S} < Wrist-2_{S}
Finger-4-1_{S} < Palm-4_{S}
Finger-1-1_{S} < Hand_{S}
"""
MAKEHUMAN_GAME_1_JOINTS = {
    "Root": 0, "Spine1": 3, "Spine2": 6, "Spine3": 9, "Neck": 12, "Head": 15,
    **{f"{b}_{s}": j + (1 if s == "R" else 0) for s in "LR" for b, j in (
        ("UpLeg", 1), ("LoLeg", 4), ("Foot", 7), ("Toe", 10), ("Clavicle", 13), ("UpArm", 16),
        ("LoArm", 18), ("Hand", 20))},
}

# CMU's mocap skeleton (tests/data/cmu_01_01_first2s.bvh) renamed: VRM humanoid names, 3ds Max Biped
# names, and names that mean nothing (jnt_00 ... in the BVH's order). The truth is cmu.json's map.
CMU_ORDER = (
    "Hips", "LHipJoint", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "RHipJoint", "RightUpLeg",
    "RightLeg", "RightFoot", "RightToeBase", "LowerBack", "Spine", "Spine1", "Neck", "Neck1", "Head",
    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LeftFingerBase", "LFingers", "LThumb",
    "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RightFingerBase", "RFingers", "RThumb",
)
CMU_TO_VRM = {
    "Hips": "hips", "LowerBack": "spine", "Spine": "chest", "Spine1": "upperChest", "Neck": "neck",
    "Neck1": "neckUpper", "Head": "head",
    **{f"{S}{c}": f"{s}{v}" for S, s in (("Left", "left"), ("Right", "right")) for c, v in (
        ("UpLeg", "UpperLeg"), ("Leg", "LowerLeg"), ("Foot", "Foot"), ("ToeBase", "Toes"),
        ("Shoulder", "Shoulder"), ("Arm", "UpperArm"), ("ForeArm", "LowerArm"), ("Hand", "Hand"),
        ("FingerBase", "IndexProximal"))},
    "LHipJoint": "leftHipHelper", "RHipJoint": "rightHipHelper", "LFingers": "leftIndexIntermediate",
    "RFingers": "rightIndexIntermediate", "LThumb": "leftThumbProximal", "RThumb": "rightThumbProximal",
}
CMU_TO_BIPED = {
    "Hips": "Bip001 Pelvis", "LowerBack": "Bip001 Spine", "Spine": "Bip001 Spine1", "Spine1": "Bip001 Spine2",
    "Neck": "Bip001 Neck", "Neck1": "Bip001 Neck1", "Head": "Bip001 Head",
    **{f"{S}{c}": f"Bip001 {s} {v}" for S, s in (("Left", "L"), ("Right", "R")) for c, v in (
        ("UpLeg", "Thigh"), ("Leg", "Calf"), ("Foot", "Foot"), ("ToeBase", "Toe0"),
        ("Shoulder", "Clavicle"), ("Arm", "UpperArm"), ("ForeArm", "Forearm"), ("Hand", "Hand"),
        ("FingerBase", "Finger1"))},
    "LHipJoint": "Bip001 L HipHelper", "RHipJoint": "Bip001 R HipHelper", "LFingers": "Bip001 L Finger11",
    "RFingers": "Bip001 R Finger11", "LThumb": "Bip001 L Finger0", "RThumb": "Bip001 R Finger0",
}
CMU_TO_JNT = {name: f"jnt_{i:02d}" for i, name in enumerate(CMU_ORDER)}
