"""A tiny evaluator trained through the ordinary typed trainer (training.train.train_evaluator.train)."""

import dataclasses

from training.train import train_evaluator as te


def train_tiny_evaluator(cache, out, steps: int, text_encoder=None, resume: bool = False, **changes) -> dict:
    """The `tiny` preset for `steps` steps on the CPU (changes: other TrainConfig fields); returns the
    trainer's summary (its "retrieval" is the evaluator's own test report)."""
    cfg = dataclasses.replace(te.train_defaults("tiny"), steps=steps, device="cpu", **changes)
    return te.train(cfg, cache, out, preset="tiny", text_encoder=text_encoder, resume=resume)
