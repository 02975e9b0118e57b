"""Diffusion head: schedule, learning a conditional toy distribution, CFG, determinism; regression head."""

import pytest
import torch

from ropar_core.diffusion import DiffusionHead, RegressionHead, cosine_alphas_cumprod

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_cosine_schedule():
    abar = cosine_alphas_cumprod(1000)
    assert abar.shape == (1000,)
    assert abar[0] > 0.999 and abar[-1] < 1e-3
    assert (abar[1:] < abar[:-1]).all()
    assert abs(abar[500].item() - 0.5) < 0.05  # cosine: half the signal half way


def _toy(n, g):
    """Condition +-1 (as a 4-d vector) -> token N(+-[2, -1], 0.3^2)."""
    sign = torch.randint(0, 2, (n,), generator=g).float() * 2 - 1
    cond = torch.stack([sign, -sign, torch.ones(n), torch.zeros(n)], dim=1)
    x = sign.unsqueeze(1) * torch.tensor([2.0, -1.0]) + 0.3 * torch.randn(n, 2, generator=g)
    return x, cond


def _train(head, steps=400):
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(head.parameters(), lr=2e-3)
    for _ in range(steps):
        x, cond = _toy(256, g)
        loss = head.loss(x, cond, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def test_learns_a_conditional_distribution():
    torch.manual_seed(0)
    head = DiffusionHead(2, 4, width=64, depth=2, sample_steps=16, batch_mul=2)
    first = head.loss(*_toy(256, torch.Generator().manual_seed(9))).item()
    last = _train(head)
    assert last < 0.6 * first
    cond_pos = torch.tensor([[1.0, -1.0, 1.0, 0.0]]).repeat(500, 1)
    samples = head.sample(cond_pos, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(samples.mean(0), torch.tensor([2.0, -1.0]), atol=0.25)
    assert 0.1 < samples.std(0).mean().item() < 1.0  # data std 0.3; an unfitted head is far wider
    # temperature 0 collapses the draws; the same generator seed gives the same draws
    cold = head.sample(cond_pos[:50], temperature=0.0)
    assert cold.std(0).max() < 1e-4
    a = head.sample(cond_pos[:5], generator=torch.Generator().manual_seed(3))
    b = head.sample(cond_pos[:5], generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    # guidance with the opposite condition as "unconditional" pushes further along +[2, -1]
    cond_neg = -cond_pos + torch.tensor([0.0, 0.0, 2.0, 0.0])
    guided = head.sample(cond_pos, cond_neg, cfg_scale=2.0, generator=torch.Generator().manual_seed(1))
    assert guided.mean(0)[0] > samples.mean(0)[0] + 0.5


def test_regression_head():
    torch.manual_seed(0)
    head = RegressionHead(2, 4, width=32, depth=2)
    _train(head, steps=300)
    out = head.sample(torch.tensor([[1.0, -1.0, 1.0, 0.0], [-1.0, 1.0, 1.0, 0.0]]))
    assert torch.allclose(out, torch.tensor([[2.0, -1.0], [-2.0, 1.0]]), atol=0.2)
