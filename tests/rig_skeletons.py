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
