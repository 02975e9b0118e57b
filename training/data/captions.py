"""Natural captions for Bandai content x style labels.

Bandai clips carry only two labels: what is done (content, e.g. `wave-left-hand`) and how (style, e.g.
`elderly`). A text-to-motion model trained on one fixed sentence per label pair learns a lookup table,
not language; users type "an old man slowly walks ahead" as often as "a person walks forward in an
elderly way". So each clip gets several captions drawn from a grammar of who / what / how phrases, with
the wording chosen per clip by a seeded hash (deterministic, varied across clips of the same pair).
"""

from __future__ import annotations

import hashlib

import numpy as np

CONTENTS = (
    "walk", "walk-turn-left", "walk-turn-right", "run", "wave-both-hands", "wave-left-hand",
    "wave-right-hand", "raise-up-both-hands", "raise-up-left-hand", "raise-up-right-hand",
)
STYLES = ("active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful")

# What is done: present-tense verb phrases for a third-person subject. Several per content, so that
# synonyms ("strolls", "jogs", "lifts") appear in training text.
ACTIONS = {
    "walk": ("walks forward", "walks ahead", "walks straight forward", "walks in a straight line",
             "strolls forward", "takes a few steps forward"),
    "walk-turn-left": ("walks forward and turns left", "walks and then turns to the left",
                       "walks ahead and makes a left turn", "turns left while walking",
                       "walks forward, then veers to the left"),
    "walk-turn-right": ("walks forward and turns right", "walks and then turns to the right",
                        "walks ahead and makes a right turn", "turns right while walking",
                        "walks forward, then veers to the right"),
    "run": ("runs forward", "runs straight ahead", "jogs forward", "runs in a straight line",
            "sprints forward"),
    "wave-both-hands": ("waves both hands", "waves with both hands", "waves both arms in the air",
                        "raises both hands and waves", "waves hello with both hands"),
    "wave-left-hand": ("waves with the left hand", "waves the left hand", "raises the left hand and waves",
                       "waves hello with the left hand", "waves the left arm"),
    "wave-right-hand": ("waves with the right hand", "waves the right hand",
                        "raises the right hand and waves", "waves hello with the right hand",
                        "waves the right arm"),
    "raise-up-both-hands": ("raises both hands", "lifts both arms up", "puts both hands up",
                            "raises both arms above the head", "lifts both hands into the air"),
    "raise-up-left-hand": ("raises the left hand", "lifts the left arm up", "puts the left hand up",
                           "raises the left arm above the head", "lifts the left hand into the air"),
    "raise-up-right-hand": ("raises the right hand", "lifts the right arm up", "puts the right hand up",
                            "raises the right arm above the head", "lifts the right hand into the air"),
    # Bandai dataset-1's contents (walk and run are shared with dataset-2).
    "dash": ("dashes forward", "sprints forward at full speed", "dashes ahead", "runs forward very fast"),
    "walk-back": ("walks backward", "walks backwards", "steps backward", "walks back a few steps",
                  "moves backward step by step"),
    "walk-left": ("walks to the left", "walks forward, bearing left", "heads off to the left",
                  "walks diagonally forward to the left"),
    "walk-right": ("walks to the right", "walks forward, bearing right", "heads off to the right",
                   "walks diagonally forward to the right"),
    "bow": ("bows", "bows deeply", "bows politely", "bends forward in a bow", "bows in greeting",
            "bends the upper body forward", "lowers the upper body in a bow", "bows the head and torso",
            "leans forward from the hips to bow"),
    "bye": ("waves goodbye", "waves goodbye with one hand", "says bye with a wave", "waves farewell"),
    "byebye": ("waves goodbye with both hands", "waves bye-bye with both arms",
               "waves farewell with both hands", "waves both hands to say goodbye"),
    "guide": ("guides someone the way with the hand", "shows the way with an open hand",
              "gestures to guide someone", "points the way with the arm"),
    "respond": ("responds to someone", "answers someone with a gesture", "reacts and replies with a gesture"),
    "call": ("calls out to someone", "calls someone over", "calls to someone with a hand gesture"),
    "punch": ("punches", "throws a punch", "punches forward", "strikes with the fist"),
    "kick": ("kicks", "kicks forward", "does a kick", "kicks with one leg", "kicks out with one foot",
             "strikes with the foot", "swings a leg up in a kick"),
    "slash": ("slashes with a sword", "swings a sword", "slashes downward with a blade", "cuts with a sword"),
    "dance-long": ("dances", "dances for a while", "does a long dance", "dances to music"),
    "dance-short": ("dances", "does a short dance", "dances briefly", "does a few dance moves"),
}

# How it is done. Each style has three kinds of wording: who does it (a subject noun phrase that
# carries the style), an adverb placed after the action, and a trailing "in a ... way" phrase.
GENERIC_SUBJECTS = ("a person", "someone", "the person", "a character", "a human")
STYLE_SUBJECTS = {
    "active": ("an energetic person", "a lively person", "an athletic man"),
    "elderly": ("an old man", "an elderly person", "an old person", "a senior"),
    "exhausted": ("a tired person", "an exhausted man", "a worn-out person", "a weary person"),
    "feminine": ("a graceful person", "a woman", "an elegant person"),
    "masculine": ("a confident man", "a broad-shouldered man", "a strong man"),
    "normal": ("a person", "someone", "a man", "an ordinary person"),
    "youthful": ("a young person", "a cheerful kid", "a youthful person", "a child"),
}
STYLE_ADVERBS = {
    "active": ("energetically", "briskly", "vigorously", "with a lot of energy"),
    "elderly": ("slowly", "stiffly and slowly", "carefully, like an old man", "with a slight stoop"),
    "exhausted": ("wearily", "sluggishly", "tiredly", "with drooping shoulders", "listlessly"),
    "feminine": ("gracefully", "elegantly", "with a light, graceful manner", "daintily"),
    "masculine": ("confidently", "with a broad, firm posture", "boldly", "with a strong, steady manner"),
    "normal": ("normally", "casually", "in a relaxed way", "at a normal pace"),
    "youthful": ("cheerfully", "playfully", "with a bounce", "happily"),
}
# Bandai dataset-1's styles: three are dataset-2's under other names, the rest are new.
STYLE_ALIASES = {"masculinity": "masculine", "old": "elderly", "tired": "exhausted"}
NEW_STYLES = {
    # style: (subjects, adverbs, gait adverb, "in a ... way" phrases)
    "happy": (("a happy person", "a cheerful man", "a joyful person"),
              ("happily", "joyfully", "cheerfully", "with a big smile"), "with bouncy steps",
              ("in a happy way", "as if happy", "in a joyful manner")),
    "sad": (("a sad person", "an unhappy man", "a gloomy person"),
            ("sadly", "gloomily", "with a heavy heart"),
            "with slow, heavy steps", ("in a sad way", "as if sad", "in a sorrowful manner")),
    "angry": (("an angry person", "a furious man", "an annoyed person"),
              ("angrily", "furiously", "aggressively"),
              "with stomping steps", ("in an angry way", "as if angry", "in a furious manner")),
    "proud": (("a proud person", "a proud man", "a self-assured person"),
              ("proudly", "haughtily", "with the chest out"),
              "with a proud stride", ("in a proud way", "as if proud", "in a haughty manner")),
    "not-confident": (("an insecure person", "a shy man", "a timid person"),
                      ("timidly", "shyly", "hesitantly"),
                      "with hesitant steps", ("in an unconfident way", "as if unsure", "in a timid manner")),
    "childish": (("a child", "a childish person", "a little kid"),
                 ("childishly", "playfully", "like a little child"),
                 "with skipping steps", ("in a childish way", "like a child", "in a childlike manner")),
    "musical": (("a musical performer", "a stage actor", "a theatrical person"),
                ("theatrically", "rhythmically", "with exaggerated, dance-like moves"), "with rhythmic steps",
                ("in a musical way", "like in a musical", "in a theatrical manner")),
    "giant": (("a giant", "a huge, heavy man", "a lumbering giant"),
              ("heavily", "ponderously", "with great weight"),
              "with huge, heavy steps",
              ("in a giant-like way", "like a giant", "in a heavy, lumbering manner")),
    "chimpira": (("a thug", "a street punk", "a swaggering hoodlum"),
                 ("with a swagger", "menacingly", "cockily"),
                 "with a swaggering gait",
                 ("in a thuggish way", "like a street thug", "in a swaggering manner")),
}
# Extra manner phrases that only make sense when the person moves over the ground.
LOCOMOTION = ("walk", "walk-turn-left", "walk-turn-right", "run", "dash", "walk-back", "walk-left",
              "walk-right")
GAIT_ADVERBS = {
    "active": ("with long, quick strides",),
    "elderly": ("with small, shuffling steps",),
    "exhausted": ("with heavy, dragging steps",),
    "feminine": ("with light, swaying steps",),
    "masculine": ("with heavy, wide steps",),
    "normal": ("at an even pace",),
    "youthful": ("with springy steps",),
    **{style: (gait,) for style, (_, _, gait, _) in NEW_STYLES.items()},
}

STYLE_WAYS = {
    "active": ("in an active way", "in an energetic way", "in a lively manner"),
    "elderly": ("in an elderly way", "like an old man", "in the manner of an elderly person"),
    "exhausted": ("in an exhausted way", "as if exhausted", "as if very tired"),
    "feminine": ("in a feminine way", "in a feminine manner", "in a graceful, feminine way"),
    "masculine": ("in a masculine way", "in a masculine manner", "in a manly way"),
    "normal": ("in a normal way", "in an ordinary way", "in a neutral manner"),
    "youthful": ("in a youthful way", "like a kid", "in a youthful, bouncy manner"),
}
# Dataset-1's styles join the tables; an alias shares its dataset-2 twin's wording.
for _style, (_who, _how, _gait, _ways) in NEW_STYLES.items():
    STYLE_SUBJECTS[_style], STYLE_ADVERBS[_style], STYLE_WAYS[_style] = _who, _how, _ways
for _alias, _style in STYLE_ALIASES.items():
    for _table in (STYLE_SUBJECTS, STYLE_ADVERBS, STYLE_WAYS, GAIT_ADVERBS):
        _table[_alias] = _table[_style]


def _check(content: str, style: str) -> None:
    if content not in ACTIONS:
        raise ValueError(f"unknown Bandai content {content!r}; known: {', '.join(ACTIONS)}")
    if style not in STYLE_ADVERBS:
        raise ValueError(f"unknown Bandai style {style!r}; known: {', '.join(STYLE_ADVERBS)}")


def caption_pool(content: str, style: str) -> list[str]:
    """Every caption the grammar can produce for one (content, style) pair, in a fixed order."""
    _check(content, style)
    adverbs = STYLE_ADVERBS[style] + (GAIT_ADVERBS[style] if content in LOCOMOTION else ())
    pool: list[str] = []
    for action in ACTIONS[content]:
        for who in STYLE_SUBJECTS[style]:  # the style lives in the subject ("an old man walks ahead")
            pool.append(f"{who} {action}")
        for who in GENERIC_SUBJECTS:  # ... or in an adverb / a manner phrase
            pool.extend(f"{who} {action} {how}" for how in adverbs)
            pool.extend(f"{who} {action} {way}" for way in STYLE_WAYS[style])
        for who in STYLE_SUBJECTS[style]:  # ... or both ("an old man slowly walks ahead")
            for how in adverbs:
                # one-word adverbs read well before the verb; skip "a weary person wearily ..."
                if " " not in how and how[:4] not in who:
                    pool.append(f"{who} {how} {action}")
    return list(dict.fromkeys(pool))  # de-duplicate, order kept


def cycle_with_subjects(wordings: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """Up to `n` distinct sentences: the wordings in turn, the first with "a person", the rest with subjects
    drawn from GENERIC_SUBJECTS, cycling when there are fewer wordings than `n`."""
    out: list[str] = []
    for i in range(4 * max(n, 1)):
        who = "a person" if i == 0 else GENERIC_SUBJECTS[int(rng.integers(len(GENERIC_SUBJECTS)))]
        caption = f"{who} {wordings[i % len(wordings)]}"
        if caption not in out:
            out.append(caption)
        if len(out) == n:
            break
    return out


def _rng(key: str, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def make_captions(content: str, style: str, key: str, n: int = 4, seed: int = 0) -> list[str]:
    """`n` (>= 1) distinct captions for one clip, chosen deterministically from (seed, key).

    The first caption always names the style explicitly ("... in an elderly way" or an adverb), so a
    clip never ends up with only the vaguest wordings; the rest are drawn from the whole pool."""
    if n < 1:
        raise ValueError(f"need at least one caption, got n={n}")
    pool = caption_pool(content, style)
    rng = _rng(key, seed)
    explicit = [c for c in pool if any(c.endswith(w) for w in STYLE_WAYS[style])]
    first = explicit[int(rng.integers(len(explicit)))]
    rest = [c for c in pool if c != first]
    picks = rng.choice(len(rest), size=min(n - 1, len(rest)), replace=False)
    return [first] + [rest[int(i)] for i in picks]
