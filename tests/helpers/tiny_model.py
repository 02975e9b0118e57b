"""A tiny randomly initialised RoPAR model (a few hundred kB) and plausible source motions, shared by the
generator, CLI, server and add-on tests."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ropar_core import skeleton as sk

TINY_WINDOW_TOKENS = 12  # 48 frames: long-motion windowing kicks in beyond 2.4 s


def rest_pose() -> np.ndarray:
    """(22, 3) SMPL-22 rest pose standing on Y = 0."""
    rest = np.zeros((22, 3))
    for j in range(1, 22):
        rest[j] = rest[sk.PARENTS[j]] + sk.REST_OFFSETS[j]
    rest[:, 1] -= rest[:, 1].min()
    return rest


def walking_motion(frames: int = 40, yaw_deg: float = 30.0, offset=(1.0, 0.0, -2.0)) -> np.ndarray:
    """A plausible source motion in metres, Y up: legs swing, arms hang, the body walks along its
    facing direction, placed with a yaw and an offset (so placement restoring is exercised)."""
    rest = rest_pose()
    t = np.arange(frames) / sk.FPS
    joints = np.repeat(rest[None], frames, 0)  # (T, 22, 3)
    swing = 0.35 * np.sin(2 * np.pi * 1.0 * t)  # rad
    for hip, sign in ((1, 1.0), (2, -1.0)):
        chain = next(c for c in sk.KINEMATIC_CHAINS if c[1] == hip)
        for j in chain[2:]:  # knee, ankle, foot swing about the hip
            joints[:, j] = rest[hip] + np.einsum("tij,j->ti", _rx(sign * swing), rest[j] - rest[hip])
    joints[:, :, 2] += (1.2 * t)[:, None]  # forward along +Z
    a = math.radians(yaw_deg)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    return (joints @ ry.T + np.asarray(offset)).astype(np.float32)


def _rx(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def tiny_stats() -> tuple[np.ndarray, np.ndarray]:
    """Normalisation stats whose mean is the rest pose, so the random model decodes body-like poses."""
    rest = rest_pose()
    height = rest[0, 1]
    mean = np.zeros(sk.FEATURE_DIM, np.float32)
    mean[3] = height
    mean[sk.RIC_SLICE] = rest[1:].reshape(-1)
    mean[sk.ROT_SLICE] = np.tile([1, 0, 0, 0, 1, 0], 21)
    mean[sk.CONTACT_SLICE] = 0.5
    return mean, np.full(sk.FEATURE_DIM, 0.03, np.float32)


def tiny_models(window_tokens: int = TINY_WINDOW_TOKENS, seed: int = 0):
    """(pvae, ropar, config dict, mean, std): the 'tiny' presets, weights perturbed so that the
    zero-initialised AdaLN / output layers let text and noise matter."""
    from ropar_core.pvae import PVAE, PVAE_PRESETS, PVAEConfig
    from ropar_core.ropar import ROPAR_PRESETS, RoPAR, RoPARConfig

    torch.manual_seed(seed)
    pcfg = PVAEConfig(**PVAE_PRESETS["tiny"])
    rcfg = RoPARConfig(**{**ROPAR_PRESETS["tiny"], "latent_dim": pcfg.latent_dim,
                          "max_time_tokens": window_tokens, "sample_steps": 4, "dropout": 0.0})
    pvae, ropar = PVAE(pcfg), RoPAR(rcfg)
    with torch.no_grad():
        for p in list(pvae.parameters()) + list(ropar.parameters()):
            p.add_(0.05 * torch.randn_like(p))
    mean, std = tiny_stats()
    config = {"pvae": pcfg.to_dict(), "ropar": rcfg.to_dict(), "text_encoder": "all-MiniLM-L6-v2", "fps": 20,
              "train": {"note": "tiny random test model"}, "sampling": {"cfg": 2.0, "steps": 4}}
    return pvae, ropar, config, mean, std


def make_tiny_model_dir(path: Path, window_tokens: int = TINY_WINDOW_TOKENS) -> Path:
    """Write a tiny model directory in the shipped layout (config.json, *.safetensors, stats)."""
    from ropar_core import checkpoint

    pvae, ropar, config, mean, std = tiny_models(window_tokens)
    path.mkdir(parents=True, exist_ok=True)
    checkpoint.save_config(path, config)
    checkpoint.save_weights(path / "pvae.safetensors", pvae.state_dict())
    checkpoint.save_weights(path / "ropar.safetensors", ropar.state_dict())
    checkpoint.save_stats(path, mean, std)
    (path / "README.md").write_text("# tiny test model\n\nLicence: CC BY-NC 4.0 (test only).\n")
    return path


_TEXT = {}


def text_encoder():
    """One MiniLM per test session (loading it takes a second or two)."""
    from ropar_core.text import TextEncoder

    if "enc" not in _TEXT:
        _TEXT["enc"] = TextEncoder(None)
    return _TEXT["enc"]


def tiny_generator(window_tokens: int = TINY_WINDOW_TOKENS):
    from ropar_core.generator import Generator

    pvae, ropar, config, mean, std = tiny_models(window_tokens)
    return Generator(pvae, ropar, text_encoder(), mean, std, config, torch.device("cpu"), name="tiny")


def bone_direction_error(joints: np.ndarray, rotations: np.ndarray) -> float:
    """Largest angle (rad) between the bones of `joints` and those of fk(rotations, root)."""
    from ropar_core.features import fk

    rebuilt = fk(rotations, joints[:, 0]).astype(np.float64)
    parents = np.array(sk.PARENTS[1:])
    a = joints[:, 1:] - joints[:, parents]
    b = rebuilt[:, 1:] - rebuilt[:, parents]
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return float(np.arccos(np.clip(cos, -1.0, 1.0)).max())
