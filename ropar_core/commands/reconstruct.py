"""`ropar reconstruct MOTION --out OUT`: run a motion through the P-VAE (encode with mu, decode) and
report how far the result is from the input, as MPJPE in millimetres.

The input is first brought into the model's convention (HumanML3D-263 at 20 fps, the target skeleton),
so the error is measured against that version of it: the loss of the autoencoder alone.
"""

from __future__ import annotations

import numpy as np
import torch

from ropar_core import skeleton as sk
from ropar_core.errors import MotionFileError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "reconstruct", help="encode + decode a motion through the P-VAE; prints MPJPE (mm)",
        description="Encode a motion (.bvh .npz .npy .json) with the part-aware VAE and decode it again; "
                    "writes the reconstruction and prints its MPJPE against the input.")
    p.add_argument("motion", metavar="MOTION", help="input motion file")
    p.add_argument("--out", required=True, help="output motion (.bvh .npz .npy .json), written atomically")
    p.add_argument("--model", metavar="DIR", default=None,
                   help="model directory, or a shipped model by name (a folder of assets/; default: default)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.set_defaults(func=run)


def reconstruct_features(pvae, mean: np.ndarray, std: np.ndarray, feats: np.ndarray) -> np.ndarray:
    """(T, 263) features, T a multiple of 4 -> (T, 263) decoded features (every part credible)."""
    dev = pvae.feat_mean.device
    m, s = torch.as_tensor(mean, device=dev), torch.as_tensor(std, device=dev)
    x = ((torch.as_tensor(feats, device=dev) - m) / s)[None]  # (1, T, 263)
    with torch.no_grad():
        rec = pvae.reconstruct(x)[0] * s + m
    return rec.cpu().numpy().astype(np.float32)


def run(args) -> int:
    from ropar_core import features as F
    from ropar_core import io
    from ropar_core.device import resolve_device
    from ropar_core.generator import model_path
    from ropar_core.modeldir import load_pvae

    motion = io.load_motion(args.motion, fps=sk.FPS)
    joints, _ = F.normalise_joints(motion.joints, fps=sk.FPS)
    feats = F.joints_to_features(joints)  # (T-1, 263)
    T = len(feats) // sk.TOKEN_FRAMES * sk.TOKEN_FRAMES
    if T < 2 * sk.TOKEN_FRAMES:
        raise MotionFileError(f"{args.motion}: {motion.frames} frames at 20 fps is too short to reconstruct "
                              f"(at least {2 * sk.TOKEN_FRAMES + 1} needed)")
    feats = feats[:T]
    pvae, mean, std = load_pvae(model_path(args.model), resolve_device(args.device))
    rec = reconstruct_features(pvae, mean, std, feats)
    ref_joints = F.features_to_joints(feats)  # the input as the model sees it
    rec_joints = F.features_to_joints(rec)
    err = np.linalg.norm(rec_joints - ref_joints, axis=-1)  # (T, 22)
    rel = np.linalg.norm((rec_joints - rec_joints[:, :1]) - (ref_joints - ref_joints[:, :1]), axis=-1)
    out = io.Motion(rec_joints, F.features_to_rotations(rec), float(sk.FPS), motion.text)
    io.save_motion(args.out, out)
    print(f"MPJPE {1000 * err.mean():.1f} mm (root-relative {1000 * rel.mean():.1f} mm) over {T} frames; "
          f"wrote {args.out}")
    return 0
