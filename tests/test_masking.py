"""Part-aware masking (Eq. 2) statistics and the unmasking schedule."""

import math

import pytest
import torch

from ropar_core.masking import part_aware_mask, unmask_schedule


def _batch(B=4000, N=12, P=5, noisy_p=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    credible = torch.rand(B, N, P, generator=g) > noisy_p
    valid = torch.ones(B, N, dtype=torch.bool)
    lengths = torch.randint(3, N + 1, (B,), generator=g)
    valid &= torch.arange(N) < lengths.unsqueeze(1)
    return credible, valid


def test_noisy_and_padding_tokens():
    credible, valid = _batch()
    m = part_aware_mask(credible, valid, torch.Generator().manual_seed(1))
    real = valid.unsqueeze(-1).expand_as(credible)
    assert m["masked"][real & ~credible].all()  # noisy: always [M] ...
    assert not m["target"][~credible].any()  # ... and never in the loss
    assert not m["target"][~real].any()  # padding never in the loss
    assert m["masked"][~real].all()
    assert not (m["masked"] & real & credible & ~m["target"]).any()  # masked credible == loss tokens
    has_cred = (credible & real).flatten(1).any(1)
    assert (m["target"].flatten(1).sum(1)[has_cred] >= 1).all()  # every sequence with credible tokens trains


def test_total_ratio_equals_alpha():
    credible, valid = _batch()
    g = torch.Generator().manual_seed(2)
    m = part_aware_mask(credible, valid, g)
    real = valid.unsqueeze(-1).expand_as(credible)
    n_real = real.flatten(1).sum(1).float()
    share = (m["masked"] & real).flatten(1).sum(1) / n_real
    assert torch.allclose(share, m["alpha"])
    assert (m["alpha"] >= m["beta"] - 1e-6).all()  # alpha never below the noisy share
    # clean data: alpha is the MaskGIT cosine draw, E[cos(pi u / 2)] = 2 / pi
    clean = part_aware_mask(torch.ones_like(credible), valid, g)
    assert abs(clean["alpha"].mean().item() - 2 / math.pi) < 0.02
    assert (clean["beta"] == 0).all()


def test_credible_tokens_masked_with_probability_alpha_minus_beta_over_one_minus_beta():
    # one fixed sequence: 40 of 100 tokens noisy (beta = 0.4); per credible token P(mask) = E[(a-b)/(1-b)]
    credible = torch.ones(20000, 20, 5, dtype=torch.bool)
    credible[:, :8, :] = False
    valid = torch.ones(20000, 20, dtype=torch.bool)
    m = part_aware_mask(credible, valid, torch.Generator().manual_seed(3))
    beta = 0.4
    alpha = m["alpha"]
    expected = ((alpha - beta) / (1 - beta)).mean()
    observed = m["target"][:, 8:, :].float().mean()
    assert abs(observed.item() - expected.item()) < 0.01
    # alpha < beta never happens; when the cosine draw fell below beta alpha was redrawn in [beta, 1)
    assert (alpha >= beta).all()


def test_all_noisy_sequence_has_no_loss_tokens():
    credible = torch.zeros(2, 4, 5, dtype=torch.bool)
    m = part_aware_mask(credible, torch.ones(2, 4, dtype=torch.bool))
    assert not m["target"].any() and m["masked"].all()


@pytest.mark.parametrize("n,steps", [(245, 10), (100, 18), (7, 10), (1, 3), (0, 4)])
def test_unmask_schedule(n, steps):
    plan = unmask_schedule(n, steps)
    assert len(plan) == steps and plan[-1] == 0
    prev = n
    for left in plan:
        assert 0 <= left <= prev
        if prev > 0:
            assert left < prev  # every step reveals something while tokens remain
        prev = left
    if n >= steps:  # cosine: few tokens revealed first, many at the end
        assert n - plan[0] < plan[-2] - plan[-1] + 1 or steps < 3


def test_unmask_schedule_rejects_zero_steps():
    with pytest.raises(ValueError):
        unmask_schedule(10, 0)
