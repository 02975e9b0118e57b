"""Captions people would type, for sources whose labels are not sentences.

CMU's trial descriptions are terse notes ("playground - forward jumps, turn around"); DeepMimic's only
label is a file name ("humanoid3d_spinkick"). Both become several plain sentences per clip ("a person
jumps forward and turns around", "someone does a spinning kick"), worded differently per clip by a
seeded hash like the Bandai grammar (`training.captions`).
"""

from __future__ import annotations

import re

from training.data.captions import GENERIC_SUBJECTS, _rng, cycle_with_subjects

# CMU: how a description's phrase reads as a verb phrase ("forward jumps" -> "jumps forward"). Phrases
# not listed are conjugated word by word (`_conjugate`).
CMU_PHRASES = {
    "forward jumps": "jumps forward",
    "sit": "sits down",
    "dangle legs": "dangles the legs",
    "lower self to ground": "lowers themself to the ground",
    "dangle": "hangs and dangles",
    "legs push off against": "pushes off with the legs",
    "run/jog": "runs",
    "punch/strike": "punches",
    "scoop up": "scoops something up",
    "lift arm": "lifts an arm",
    "swordplay": "fights with a sword",
    "wash self": "washes themself",
    "walk on uneven terrain": "walks on uneven ground",
    "slow walk": "walks slowly",
    "brisk walk": "walks briskly",
    "expressive arms": "moves the arms expressively",
    "pirouette": "spins on one foot",
    "forward dribble": "dribbles a basketball forward",
    "backward dribble": "dribbles a basketball while moving backward",
    "sideways dribble": "dribbles a basketball sideways",
    "dribble": "dribbles a basketball",
    "crossover dribble": "does a crossover dribble",
    "shoot": "shoots the ball",
    "90-degree left turns": "turns left at right angles",
    "90-degree right turns": "turns right at right angles",
    # dance (mostly ballet) steps
    "folding arms": "folds the arms",
    "bending back": "bends backwards",
    "turn step": "does a turning step",
    "turn": "turns",
    "arms held high": "holds the arms high",
    "upper body rotation": "rotates the upper body",
    "raised leg above hip-height": "raises a leg above hip height",
    "pirouettes": "spins on one foot",
    "cartwheel-like start": "starts with a cartwheel-like move",
    "sideways steps": "steps sideways",
    "attitude/arabesque": "does an arabesque",
    "shifted-axis pirouette": "spins on one foot, leaning",
    "quasi-cou-de-pied": "lifts one foot to the other ankle",
    "small jetes": "does small jetes",
    # CMU's own ASF/AMC trials (training.data.importers.cmu_asf_amc)
    "forward jump": "jumps forward",
    "high jump": "jumps high",
    "90-degree left turn": "turns 90 degrees to the left",
    "90-degree right turn": "turns 90 degrees to the right",
    "sudden stop": "stops suddenly",
    "kick ball": "kicks a ball",
    "walk forward": "walks forward",
    "backward": "walks backward",
    "sideways": "walks sideways",
    "low": "stays low",
    "fast free style dribble": "dribbles fast and freestyle",
    "dribble through legs": "dribbles the ball through the legs",
    "leap": "leaps",
    "jump up and down": "jumps up and down",
    "hop on one foot": "hops on one foot",
    "balance on one leg": "balances on one leg",
    "outstretched arms": "stretches the arms out",
    "lambada dance": "dances the lambada",
    "lindyhop2": "dances the lindy hop",
    "whirl": "whirls around",
    "side arabesque": "raises one leg out to the side",
    "sideways arabesque": "raises one leg out to the side",
    "fold in from side arabesque": "folds in from a leg raised to the side",
    "curl inwards": "curls inwards",
    "lean forward": "leans forward",
    "bring back leg forward": "brings the back leg forward",
    "arching arms": "arches the arms",
    "lean back on bent leg": "leans back on a bent leg",
    "balance": "balances",
    "bend elbow by ear": "bends an elbow up by the ear",
    "folded in": "folds in",
    "head lowered": "lowers the head",
    "leg bent": "bends a leg",
}
# Ballet steps in plain words, as someone who does not know the terms would ask for them: extra
# wordings of a dance trial, after the ones above.
BALLET_PLAIN = {
    "attitude/arabesque": "raises one leg behind, balancing on the other",
    "sideways arabesque": "raises one leg out to the side, balancing on the other",
    "side arabesque": "raises one leg out to the side, balancing on the other",
    "jete en tourant": "does a turning leap",
    "grand jete en tourant": "does a big turning leap",
    "jete": "leaps from one foot to the other",
    "small jetes": "does small leaps from foot to foot",
    "rond de jambe in the air": "circles one leg in the air",
    "glissade devant": "does a gliding step to the side",
    "glissade derriere": "does a gliding step to the side",
    "retire derriere": "draws one foot up to the knee",
    "pointe tendue a terre": "points one foot along the floor",
    "pirouette": "spins on one foot",
    "pirouettes": "spins around on one foot",
    "raised leg above hip-height": "kicks a leg up above the hip",
}
# More wordings of a phrase (after the conversion above), so that one-word trials get several captions.
CMU_PARAPHRASES = {
    "walks": ("walks forward", "takes a walk"),
    "runs": ("jogs", "runs forward"),
    "punches": ("throws punches", "strikes with the fists"),
    "jumps": ("jumps up",),
    "fights with a sword": ("swings a sword", "fences with a sword"),
    "washes themself": ("washes the body", "scrubs themself clean"),
    "walks slowly": ("walks at a slow pace",),
    "walks briskly": ("walks fast",),
    "walks on uneven ground": ("walks over rough terrain",),
    "jumps forward": ("leaps forward", "does a standing long jump", "jumps ahead with both feet"),
    "jumps high": ("jumps straight up high", "does a high jump"),
    "jumps up and down": ("jumps in place", "bounces up and down on both feet",
                          "jumps up and down on the spot"),
    "kicks a ball": ("kicks a soccer ball", "kicks a football", "kicks a ball forward"),
    "dances the lambada": ("does the lambada", "dances lambada, swinging the hips"),
    "dances the lindy hop": ("does a swing dance", "dances the lindy hop, swing style"),
}
# A context ("dance - ...") says what the whole trial is; it leads the sentence.
CMU_CONTEXT_VERBS = {
    "dance": "dances",
    "basketball": "plays basketball",
    "playground": "plays on a playground",
    "soccer": "plays soccer",
    "navigate": "walks around",
    "static dance pose": "holds a dance pose",
}
# A description's first word (or context) that is not its action: "forward jump", "navigate - walk ...".
CMU_ACTION_NAMES = {"forward": "jump", "high": "jump", "lambada": "dance", "lindyhop2": "dance",
                    "navigate": "walk", "soccer": "kick", "static dance pose": "dance"}
_ES_ENDINGS = ("s", "sh", "ch", "x", "z", "o")


def _conjugate(phrase: str) -> str:
    """'climb' -> 'climbs', 'bend over' -> 'bends over', 'rock back' -> 'rocks back'."""
    words = phrase.split()
    if not words:
        return phrase
    verb = words[0].split("/")[0]
    if verb.endswith(_ES_ENDINGS):
        verb += "es"
    elif verb.endswith("y") and len(verb) > 1 and verb[-2] not in "aeiou":
        verb = verb[:-1] + "ies"
    else:
        verb += "s"
    rest = " ".join(words[1:]).replace("self", "themself")
    return f"{verb} {rest}".strip()


def cmu_parts(description: str) -> tuple[str, list[str]]:
    """'playground - forward jumps, turn around' -> ('playground', ['jumps forward', 'turns around'])."""
    text = " ".join(description.lower().split())
    context, _, rest = text.rpartition(" - ") if " - " in text else ("", "", text)
    phrases = [p.strip() for p in re.split(r",|;", rest) if p.strip()]
    out = []
    for p in phrases:
        if p in CMU_PHRASES:
            out.append(CMU_PHRASES[p])
        elif context == "dance":
            out.append(f"does {'an' if p[0] in 'aeiou' else 'a'} {p}")  # ballet: "does a jete en tourant"
        else:
            out.append(_conjugate(p))
    return context, out


def cmu_action(description: str) -> str:
    """The vocabulary entry of a description: its context, else its first verb ('walk', 'punch')."""
    text = " ".join(description.lower().split())
    if " - " in text:
        context = text.rpartition(" - ")[0]
        return CMU_ACTION_NAMES.get(context, context)
    words = re.split(r"[,;]", text)[0].split()
    if not words:
        return "unknown"
    if words[0] in ("slow", "brisk", "fast") and len(words) > 1:
        words = words[1:]
    action = words[0].split("/")[0]
    return CMU_ACTION_NAMES.get(action, action)


def _join(phrases: list[str], then: bool = False) -> str:
    if len(phrases) == 1:
        return phrases[0]
    last = ("then " if then else "and ") + phrases[-1]
    return ", ".join(phrases[:-1]) + (", " if then or len(phrases) > 2 else " ") + last


def _ballet_plain(description: str) -> list[str]:
    """Plain wordings of a dance trial's ballet steps ("does a turning leap" for "jete en tourant")."""
    context, _, rest = " ".join(description.lower().split()).rpartition(" - ")
    plain = [BALLET_PLAIN[p.strip()] for p in re.split(r",|;", rest) if p.strip() in BALLET_PLAIN]
    if context != "dance" or not plain:
        return []
    return [f"dances ballet and {plain[0]}", _join(plain), f"does ballet: {_join(plain)}"]


def cmu_captions(description: str, key: str, n: int = 5, seed: int = 0) -> list[str]:
    """`n` distinct plain sentences for one CMU trial, chosen deterministically from (seed, key)."""
    context, phrases = cmu_parts(description)
    if not phrases:
        raise ValueError(f"empty CMU description for {key}")
    lead = CMU_CONTEXT_VERBS.get(context)
    rng = _rng(f"cmu:{key}", seed)
    pool = [_join(phrases), _join(phrases, then=True), phrases[0]]  # all actions, "then", the first alone
    if len(phrases) == 1:
        pool += CMU_PARAPHRASES.get(phrases[0], ())
    if lead and context == "playground":
        pool += [f"{lead} and {phrases[0]}", lead]
    elif lead:  # "dances, does a jete and turns": the context leads, since it names the whole trial
        both = f"{lead}, {_join(phrases)}" if len(phrases) > 1 else f"{lead} and {phrases[0]}"
        pool = [both, f"{lead} and {phrases[0]}", lead, *pool]
    pool += _ballet_plain(description)
    return cycle_with_subjects(list(dict.fromkeys(pool)), n, rng)


# DeepMimic: file name -> (vocabulary entry, paraphrases).
DEEPMIMIC_CAPTIONS = {
    "backflip": (
        "backflip",
        (
            "does a backflip",
            "flips over backwards in the air",
            "does a back somersault",
            "jumps up and turns a backflip",
        ),
    ),
    "cartwheel": (
        "cartwheel",
        (
            "does a cartwheel",
            "turns a cartwheel to the side",
            "cartwheels sideways across the floor",
            "does a cartwheel, landing on the feet",
            "flips sideways over both hands",
            "goes sideways upside down on the hands and lands on the feet",
            "does a sideways handspring",
            "turns sideways head over heels on the hands",
        ),
    ),
    "crawl": (
        "crawl",
        (
            "crawls forward",
            "crawls on hands and knees",
            "crawls along the ground",
            "gets down and crawls ahead",
            "moves forward on hands and knees",
            "creeps along the floor on hands and knees",
            "crawls like a baby",
            "crawls across the floor",
        ),
    ),
    "dance_a": (
        "dance",
        ("dances", "does a little dance", "dances in place, swinging the arms", "dances happily"),
    ),
    "dance_b": (
        "dance",
        ("dances", "does a lively dance", "dances with big arm movements", "dances to music"),
    ),
    "dance_spin": (
        "spin",
        (
            "spins around while dancing",
            "does a dance spin",
            "twirls around",
            "dances and turns in a full circle",
        ),
    ),
    "getup_facedown": (
        "get up",
        (
            "gets up from lying face down",
            "stands up from the floor after lying on the belly",
            "rises from the ground, face down at first",
            "pushes up off the floor and stands",
        ),
    ),
    "getup_faceup": (
        "get up",
        (
            "gets up from lying on the back",
            "stands up after lying on the floor face up",
            "sits up and rises to the feet",
            "gets up off the ground",
        ),
    ),
    "jog": ("run", ("jogs forward", "jogs", "runs at an easy pace", "jogs ahead")),
    "jump": ("jump", ("jumps forward", "does a long jump", "jumps with both feet", "jumps ahead and lands",
                      "leaps forward", "springs forward off both feet", "jumps up and lands ahead")),
    "kick": ("kick", ("kicks", "kicks with one leg", "does a front kick", "kicks forward with one foot",
                      "strikes out with a foot", "swings one leg up in a kick", "does a martial arts kick",
                      "kicks the air")),
    "long_walk": ("walk", ("walks", "walks forward", "walks around", "takes a long walk")),
    "long_zombie": (
        "zombie walk",
        (
            "walks like a zombie",
            "shambles forward like a zombie",
            "staggers ahead with arms stretched out",
            "walks like the undead",
        ),
    ),
    "punch": ("punch", ("punches", "punches forward with the fist", "throws a punch", "punches the air")),
    "roll": (
        "roll",
        (
            "rolls forward on the ground",
            "does a forward roll",
            "tucks and rolls over",
            "does a somersault on the floor",
        ),
    ),
    "run": ("run", ("runs", "runs forward", "runs fast", "sprints ahead")),
    "sideflip": (
        "sideflip",
        (
            "does a side flip",
            "flips sideways in the air",
            "does an aerial side flip",
            "jumps and flips to the side",
        ),
    ),
    "spin": ("spin", ("spins around", "turns around in place", "spins in a circle", "twirls in place")),
    "spinkick": (
        "kick",
        ("does a spinning kick", "spins and kicks", "does a roundhouse kick", "turns around and kicks high"),
    ),
    "stealthy_walk": (
        "sneak",
        ("sneaks forward", "walks stealthily", "tiptoes forward quietly", "creeps ahead carefully"),
    ),
    "walk": ("walk", ("walks", "walks forward", "walks ahead", "walks at a normal pace")),
    "zombie_walk": (
        "zombie walk",
        (
            "walks like a zombie",
            "shambles forward like a zombie",
            "staggers ahead with arms stretched out",
            "lurches forward like a zombie",
        ),
    ),
}


# The long DeepMimic walks wander (long_walk2 turns 618 deg in 25 s, the 66 s stealthy walks change
# direction every few seconds): "walks forward" on them taught the model that a plain walk circles. A
# clip whose heading spreads over more than WANDER_TURN_DEG gets these captions instead (same action).
WANDER_TURN_DEG = 120.0
DEEPMIMIC_WANDERING = {
    "walk": ("walks around", "wanders around, turning this way and that", "walks along a winding path",
             "strolls around in curves"),
    "sneak": ("sneaks around", "creeps around, changing direction", "prowls around stealthily",
              "tiptoes around in curves"),
    "zombie walk": ("shambles around like a zombie", "wanders around like a zombie",
                    "staggers around in curves with arms stretched out", "walks around like the undead"),
}


def deepmimic_key(name: str) -> str:
    """'humanoid3d_long_walk2_mirror' -> 'long_walk', 'humanoid3d_stealthy_walk0' -> 'stealthy_walk'."""
    base = re.sub(r"^humanoid3d_", "", name)
    base = re.sub(r"_mirror$", "", base)
    base = re.sub(r"\d+$", "", base)
    if base not in DEEPMIMIC_CAPTIONS:
        raise ValueError(f"{name}: no captions for DeepMimic motion {base!r}")
    return base


def deepmimic_action(name: str) -> str:
    return DEEPMIMIC_CAPTIONS[deepmimic_key(name)][0]


def deepmimic_captions(name: str, n: int = 8, seed: int = 0, turn_deg: float = 0.0) -> list[str]:
    """`n` sentences for one DeepMimic clip: its first paraphrase, then others drawn from the rest, with
    varied subjects (a clip is one of very few for its action, so it carries many wordings). turn_deg: how
    much the clip's heading spreads (importers.deepmimic.turn_range_deg); past WANDER_TURN_DEG a walk is
    captioned as wandering."""
    action, phrases = DEEPMIMIC_CAPTIONS[deepmimic_key(name)]
    if turn_deg > WANDER_TURN_DEG and action in DEEPMIMIC_WANDERING:
        phrases = DEEPMIMIC_WANDERING[action]
    rng = _rng(f"deepmimic:{name}", seed)
    rest = list(phrases[1:])
    picks = rng.choice(len(rest), size=min(max(n, 1) - 1, len(rest)), replace=False)
    out = []
    for i, body in enumerate([phrases[0]] + [rest[int(j)] for j in picks]):
        who = "a person" if i == 0 else GENERIC_SUBJECTS[int(rng.integers(len(GENERIC_SUBJECTS)))]
        out.append(f"{who} {body}")
    return out
