"""Part-aware masking for training (paper Eq. 2) and the MaskGIT cosine unmasking schedule.

Training, per sequence with L real tokens of which a share beta is noisy:
  * noisy tokens are always [M] and never in the loss;
  * alpha ~ cosine schedule (alpha = cos(pi/2 * u), u ~ U(0, 1));
  * when beta >= alpha, alpha is drawn again from [beta, 1) so that some credible tokens are masked;
  * round(alpha * L) - n_noisy credible tokens are masked (at least one): the total masked share is
    alpha, i.e. each credible token is masked with probability (alpha - beta) / (1 - beta);
  * padding tokens are neither counted nor masked nor in the loss.
"""

from __future__ import annotations

import math

import torch


def cosine_ratio(u: torch.Tensor) -> torch.Tensor:
    """u in [0, 1) -> mask ratio cos(pi/2 * u) in (0, 1]."""
    return torch.cos(0.5 * math.pi * u)


def _rand(shape, generator, device) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn on the generator's device, moved to `device`."""
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


def part_aware_mask(credible: torch.Tensor, valid: torch.Tensor, generator: torch.Generator | None = None):
    """credible (B, N, P) bool, valid (B, N) bool -> dict with
        masked (B, N, P) bool: the model sees [M] there (noisy, chosen credible and padding tokens),
        target (B, N, P) bool: the loss tokens (chosen credible tokens only),
        alpha (B,): the masked share of each sequence's real tokens,
        beta (B,): the noisy share."""
    B, N, P = credible.shape
    real = valid.unsqueeze(-1).expand(B, N, P)
    cred = credible & real
    noisy = real & ~credible
    n_real = real.flatten(1).sum(1).float()  # (B,)
    n_noisy = noisy.flatten(1).sum(1).float()
    n_cred = cred.flatten(1).sum(1)
    beta = n_noisy / n_real.clamp_min(1)

    alpha = cosine_ratio(_rand((B,), generator, credible.device))
    redraw = beta >= alpha
    alpha_hi = beta + (1 - beta) * _rand((B,), generator, credible.device)  # U[beta, 1)
    alpha = torch.where(redraw, alpha_hi, alpha)

    k = (torch.round(alpha * n_real) - n_noisy).long().clamp_min(1)
    k = torch.minimum(k, n_cred)  # (B,) credible tokens to mask

    # Rank the credible tokens in a random order; mask the first k of each sequence.
    scores = _rand((B, N * P), generator, credible.device)
    scores = scores.masked_fill(~cred.flatten(1), 2.0)  # non-credible tokens sort last
    rank = scores.argsort(dim=1).argsort(dim=1)  # (B, N*P)
    target = (rank < k.unsqueeze(1)).view(B, N, P) & cred
    masked = target | ~credible | ~real
    total = (masked & real).flatten(1).sum(1).float() / n_real.clamp_min(1)
    return {"masked": masked, "target": target, "alpha": total, "beta": beta}


def unmask_schedule(num_masked: int, steps: int) -> list[int]:
    """How many tokens stay masked after each of `steps` generation steps (MaskGIT cosine schedule):
    starts from num_masked, strictly decreasing while tokens remain, ends at 0."""
    if steps < 1:
        raise ValueError("generation needs at least one unmasking step")
    remaining = []
    prev = num_masked
    for i in range(steps):
        left = math.floor(num_masked * math.cos(0.5 * math.pi * (i + 1) / steps))
        left = 0 if i == steps - 1 else max(0, min(left, prev - 1))
        remaining.append(left)
        prev = left
    return remaining
