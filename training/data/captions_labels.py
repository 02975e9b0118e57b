"""Captions people would type, for sources labelled by a short name instead of a description: CMU
subject 105's CamelCase trial names ("HurtLegWalk", "360 smallStumble"), the CMU dance set's styles
(salsa, Indian dance, martial arts) and ReActIdle's idle labels (acted, genuine).

Each label gets a vocabulary entry and several plain wordings; `label_captions` draws `n` of them with
varied subjects by a seeded hash of the clip, like `captions_sources.cmu_captions`.
"""

from __future__ import annotations

import re

from training.data.captions import _rng, cycle_with_subjects


def camel_words(label: str) -> str:
    """'WalkDigital8' -> 'walk digital 8', 'acheyWalk' -> 'achey walk', '360 smallStumble' -> '360 small
    stumble', 'CarefulWalk LookingAround' -> 'careful walk looking around'."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z0-9])|(?<=[0-9])(?=[A-Za-z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", label)
    return " ".join(spaced.lower().split())


# CMU subject 105, by camel_words(label): (vocabulary entry, wordings). Jump turns also get the wordings
# of the turn the importer measures (JUMP_TURNS); those labelled only by an angle ("180") get only them,
# since one of those labels is wrong (105_56, "90", turns 276 degrees).
CMU105 = {
    "walk digital 8": ("walk", ("walks a figure eight with square corners", "walks a boxy figure-eight path",
                                "walks along a squared-off figure eight")),
    "digital 8": ("walk", ("walks a figure eight with square corners", "walks a boxy figure-eight path")),
    "walk 8": ("walk", ("walks in a figure eight", "walks a figure-eight loop")),
    "walk figure 8": ("walk", ("walks in a figure eight", "walks a figure-eight loop",
                               "walks around in an 8")),
    "walk straight": ("walk", ("walks straight ahead", "walks in a straight line", "walks forward")),
    "walk forward": ("walk", ("walks forward", "walks ahead and turns around")),
    "normal walk": ("walk", ("walks normally", "walks at a normal pace", "takes a walk")),
    "slow walk": ("walk", ("walks slowly", "walks at a slow pace", "strolls slowly")),
    "quick walk": ("walk", ("walks quickly", "walks fast", "walks briskly")),
    "casual quick walk": ("walk", ("walks casually at a quick pace", "walks fast in a relaxed way")),
    "mummy walk": ("zombie walk", ("walks like a mummy with the arms stretched forward",
                                   "shuffles stiffly like a mummy", "walks like a mummy")),
    "mummy 8": ("zombie walk", ("walks like a mummy in a figure eight", "shuffles like a mummy in loops")),
    "mummy digital 8": ("zombie walk", ("walks like a mummy along a squared figure eight",
                                        "shuffles like a mummy in a boxy figure eight")),
    "motor cycle pose": ("pose", ("holds a pose as if riding a motorcycle",
                                  "crouches slightly with the arms out as if gripping handlebars")),
    "lavish walk": ("walk", ("walks in a showy, extravagant way", "struts lavishly", "walks flamboyantly")),
    "too cool walk": ("walk", ("walks with an exaggerated cool swagger",
                               "struts as if too cool for everyone")),
    "cool walk": ("walk", ("walks with a cool swagger", "walks coolly", "struts along casually")),
    "sad walk": ("walk", ("walks sadly with the head down", "trudges along sadly", "walks slowly and sadly")),
    "depressed walk": ("walk", ("walks along depressed, shoulders slumped", "drags along feeling down")),
    "clumsy walk": ("walk", ("walks clumsily", "walks in a clumsy, awkward way", "stumbles along clumsily")),
    "limp": ("limp", ("walks with a limp", "limps forward", "limps along")),
    "careful walk looking around": ("walk", ("walks carefully while looking around",
                                             "walks cautiously, looking left and right")),
    "march": ("march", ("marches", "marches forward like a soldier", "marches with stiff, even steps",
                        "walks in a march")),
    "shy walk": ("walk", ("walks shyly", "walks timidly with the head down", "walks in a shy way")),
    "achey walk": ("walk", ("walks stiffly as if everything aches", "walks as if sore all over")),
    "hurt leg walk": ("limp", ("walks with a hurt leg", "limps on an injured leg",
                               "walks favouring one leg")),
    "drag bad leg walk": ("limp", ("walks dragging a bad leg", "drags one leg behind while walking")),
    "hurt stomach walk": ("walk", ("walks hunched over, holding the stomach",
                                   "walks bent over as if the stomach hurts")),
    "ghetto walk": ("walk", ("walks with a loose swagger", "walks with a laid-back strut")),
    "sexy walk": ("walk", ("walks seductively, swaying the hips", "walks with swaying hips",
                           "struts in a sexy way")),
    "scared walk": ("walk", ("walks scared, looking around nervously", "walks fearfully",
                             "creeps along afraid")),
    "macho walk": ("walk", ("walks in a macho way", "swaggers like a tough guy",
                            "walks with the chest puffed out")),
    "traffic walk": ("walk", ("walks around in a loop", "walks a loop and comes back to the start",
                              "walks around as if crossing through traffic")),
    "forward": ("jump", ("jumps forward", "jumps ahead with both feet")),
    "small forward": ("jump", ("does a small jump forward", "jumps forward a little")),
    "jump forward": ("jump", ("jumps forward", "does a standing long jump", "leaps forward with both feet")),
    "jump small forward": ("jump", ("does a small jump forward", "hops forward a little with both feet")),
    "jump turn": ("jump turn", ("jumps and turns in the air", "does a jump with a turn")),
    "further jump turn": ("jump turn", ("jumps forward and turns in the air",
                                        "does a long jump with a turn")),
    "small jump turn": ("jump turn", ("does a small jump with a turn", "hops and turns in place")),
}
# A jump turn's measured rotation (degrees, nearest quarter) -> wordings.
JUMP_TURNS = {
    90: ("jumps and turns a quarter in the air", "does a jump with a 90-degree turn"),
    180: ("jumps and turns around in the air", "does a half-turn jump",
          "jumps and lands facing the other way"),
    270: ("jumps and turns three quarters around", "does a jump with a 270-degree turn"),
    360: ("jumps and spins all the way around", "does a full-turn jump", "jumps and turns a full circle"),
}
ANGLE_LABEL = re.compile(r"^(90|180|270|360)( small stumble)?$")

# CMU dance BVH styles: (vocabulary entry, wordings).
DANCE_STYLES = {
    "salsa": ("dance", ("dances salsa", "dances salsa with a partner", "does salsa steps",
                        "dances salsa, stepping back and forth", "does a salsa dance")),
    "indian": ("dance", ("does an Indian dance", "dances in a classical Indian style",
                         "performs a traditional Indian dance",
"dances with expressive Indian hand gestures")),
    "martial": ("martial arts", ("does martial arts moves", "practises martial arts",
                                 "goes through a martial arts routine", "does kung fu moves",
                                 "practises martial arts strikes and kicks")),
}
# Hopping on one foot (the pieces of CMU 49_03), by the foot it hops on.
HOP_WORDINGS = {side: (f"hops on the {side} foot", "hops on one foot", f"hops up and down on the {side} leg",
                       "jumps up and down on one leg", f"hops in place on the {side} foot")
                for side in ("left", "right")}
# ReActIdle labels: acted (asked to act idle) and genuine (filmed while waiting) read the same.
IDLE_WORDINGS = ("stands idle", "stands in place, waiting", "stands still and waits",
                 "stands around, shifting weight from foot to foot", "waits, standing in one place",
                 "stands idly, fidgeting a little", "stands and looks around while waiting",
                 "idles, standing", "just stands there")
IDLE_LABELS = {"acted": ("idle", IDLE_WORDINGS), "genuine": ("idle", IDLE_WORDINGS)}


def cmu105_entry(label: str, turn_deg: float | None = None) -> tuple[str, tuple[str, ...]]:
    """(vocabulary entry, wordings) of a subject-105 label; angle labels read the measured turn."""
    words = camel_words(label)
    angle_only = ANGLE_LABEL.match(words)
    if not angle_only and words not in CMU105:
        raise ValueError(f"no captions for CMU subject 105 label {label!r} ({words!r})")
    action, wordings = ("jump turn", ()) if angle_only else CMU105[words]
    if action != "jump turn":
        return action, wordings
    if turn_deg is None:
        raise ValueError(f"{label!r}: a jump turn needs its measured turn")
    measured = JUMP_TURNS[int(min(JUMP_TURNS, key=lambda q: abs(q - abs(turn_deg))))]
    if "stumble" in words:
        measured = tuple(f"{w}, stumbling a little on landing" for w in measured[:2]) + measured
    return action, measured + wordings


def label_captions(wordings: tuple[str, ...], key: str, n: int = 5, seed: int = 0) -> list[str]:
    """`n` distinct sentences: the first wording with "a person", then the others in a seeded order with
    varied subjects, cycling when a label has fewer wordings than `n`."""
    rng = _rng(f"label:{key}", seed)
    order = [0] + [1 + int(i) for i in rng.permutation(len(wordings) - 1)]
    return cycle_with_subjects([wordings[k] for k in order], n, rng)
