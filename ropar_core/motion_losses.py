"""Physical loss terms for the P-VAE (issue 15): the decoder must keep planted feet still, limbs at
their length and motion as smooth as the data. Plain per-joint position errors let a decoder trade a
few mm everywhere for feet that slide and bones that stretch; these terms price exactly that.

All take world joints (..., T, 22, 3) in metres (recover_from_ric of decoded and target features) or
root-relative joints (local_joints), and weights (..., T, 22) of the joints that count (credible
cells of valid frames); each returns a scalar mean in metres (per frame where it says so).
"""

from __future__ import annotations

import torch

from ropar_core import skeleton as sk

_PARENTS = torch.as_tensor(sk.PARENTS[1:])
# contact channels 259..262 belong to l_ankle, l_foot, r_ankle, r_foot
_CONTACT_JOINTS = (7, 10, 8, 11)


def _wmean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    w = w.expand_as(x)
    return (x * w).sum() / w.sum().clamp_min(1.0)


def velocity_error(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-frame joint displacement of pred vs target (metres per frame): sliding feet and jitter cost
    here even when positions are close on average. weight (..., T, 22): both frames must count."""
    dv = (pred[..., 1:, :, :] - pred[..., :-1, :, :]) - (target[..., 1:, :, :] - target[..., :-1, :, :])
    w = weight[..., 1:, :] * weight[..., :-1, :]
    return _wmean(dv.norm(dim=-1), w)


def acceleration_error(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Second differences of pred vs target (metres per frame^2)."""
    def acc(x):
        return x[..., 2:, :, :] - 2 * x[..., 1:-1, :, :] + x[..., :-2, :, :]
    w = weight[..., 2:, :] * weight[..., 1:-1, :] * weight[..., :-2, :]
    return _wmean((acc(pred) - acc(target)).norm(dim=-1), w)


def foot_contact_slide(pred: torch.Tensor, contacts: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Horizontal movement of each foot joint of pred from frame t to t+1 while the TARGET says it is in
    contact at t (contacts (..., T, 4) in 0..1, the 263 vector's last four channels)."""
    feet = pred[..., list(_CONTACT_JOINTS), :]  # (..., T, 4, 3)
    step = (feet[..., 1:, :, :] - feet[..., :-1, :, :])[..., [0, 2]].norm(dim=-1)  # (..., T-1, 4)
    w = weight[..., list(_CONTACT_JOINTS)]
    w = contacts[..., :-1, :].clamp(0, 1) * w[..., 1:, :] * w[..., :-1, :]
    return _wmean(step, w)


def bone_length_error(pred_local: torch.Tensor, target_local: torch.Tensor, weight: torch.Tensor
                      ) -> torch.Tensor:
    """|length of each bone in pred - its length in the target| (metres); a bone counts when both of its
    joints count."""
    parents = _PARENTS.to(pred_local.device)

    def lengths(j):
        return (j[..., 1:, :] - j[..., parents, :]).norm(dim=-1)  # (..., 21)
    w = weight[..., 1:] * weight[..., parents]
    return _wmean((lengths(pred_local) - lengths(target_local)).abs(), w)


def foot_height_error(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """|height of each foot joint in pred - in the target| (metres): sunk or floating feet cost on their
    own, not diluted among the other 18 joints."""
    feet = list(_CONTACT_JOINTS)
    return _wmean((pred[..., feet, 1] - target[..., feet, 1]).abs(), weight[..., feet])
