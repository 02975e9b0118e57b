"""Retrieval per action (training.experiments.per_action) with a stand-in judge whose embeddings are known:
a motion is retrieved when it lies nearest to its own content's caption prototype."""

from types import SimpleNamespace

import numpy as np

from training.evaluation.evaluator import EvalClip
from training.experiments.per_action import format_table, pick, retrieval

AXES = {"walk": 0, "run": 1, "wave": 2}


class Judge:
    """Texts and motions embed onto the axis of the content they name / encode (feature channel 0)."""

    model = SimpleNamespace(cfg=SimpleNamespace(max_frames=40))

    def embed_texts(self, texts):
        return np.stack([np.eye(3)[next(v for k, v in AXES.items() if k in t)] for t in texts])

    def embed_motions(self, motions):
        return np.stack([np.eye(3)[int(m[0, 0])] for m in motions])


def clip(i, content, code):
    feats = np.zeros((30, 263), np.float32)
    feats[:, 0] = code
    return EvalClip(f"c{i}", feats, [f"a person does a {content}"], (content, "normal"))


class Model:
    """Generates the motion of whatever content the caption names, except runs, which come out as walks."""

    def generate(self, captions, frames, seed):
        codes = [AXES["walk"] if "run" in c else next(v for k, v in AXES.items() if k in c) for c in captions]
        return [
            SimpleNamespace(features=np.full((n, 263), code, np.float32)) for code, n in zip(codes, frames)
        ]


def test_retrieval_counts_motions_nearest_to_their_own_content():
    clips = [clip(0, "walk", 0), clip(1, "walk", 0), clip(2, "run", 1), clip(3, "run", 0), clip(4, "wave", 2)]
    chosen = pick(clips, per_action=5, seed=0)
    assert chosen == {"walk": [0, 1], "run": [2, 3], "wave": [4]}
    rows = retrieval(Judge(), clips, chosen, Model())
    assert rows["walk"] == {"n": 2, "real": 1.0, "model": 1.0}
    assert rows["run"] == {"n": 2, "real": 0.5, "model": 0.0}  # one real run looks like a walk
    assert "| run | 2 | 0.50 | 0.00 |" in format_table(rows)
    assert len(pick(clips, per_action=1, seed=3)["walk"]) == 1
