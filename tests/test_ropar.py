"""RoPAR transformer: loss/sample shapes, noisy-token isolation, editing with known tokens, determinism,
learning a text-conditioned toy task."""

import pytest
import torch

from ropar_core.ropar import ROPAR_PRESETS, RoPAR, RoPARConfig, build_ropar

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(**kw):
    torch.manual_seed(0)
    return RoPAR(RoPARConfig(**{**ROPAR_PRESETS["tiny"], "latent_dim": 8, "text_dim": 12, **kw}))


def _batch(B=3, N=6, P=5, C=8, D=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(B, N, P, C, generator=g)
    credible = torch.rand(B, N, P, generator=g) > 0.3
    valid = torch.ones(B, N, dtype=torch.bool)
    valid[0, 4:] = False
    return z, credible, valid, torch.randn(B, D, generator=g)


def test_registry_and_config_round_trip():
    assert {"tiny", "small", "base"} <= set(ROPAR_PRESETS)
    cfg = RoPARConfig(**ROPAR_PRESETS["small"])
    assert RoPARConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        RoPARConfig.from_dict({"widht": 3})
    with pytest.raises(ValueError, match="preset"):
        build_ropar("huge")


VARIANTS = [({}, 5), ({"part_decomposition": False}, 1), ({"diffusion_head": False}, 5)]


@pytest.mark.parametrize("kw,P", VARIANTS)
def test_loss_and_sample_shapes(kw, P):
    m = _model(**kw)
    z, credible, valid, text = _batch(P=P)
    loss, logs = m.loss(z, credible, valid, text, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and logs["loss_tokens"] > 0
    assert m.token_in.weight.grad is not None
    m.eval()
    out = m.sample(text, num_tokens=7, steps=4, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 7, P, 8) and torch.isfinite(out).all()


def _jitter(m):
    """Move the zero-initialised (AdaLN-Zero, output) weights so that the loss depends on everything."""
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


def test_noisy_tokens_never_reach_the_loss():
    m = _model()
    _jitter(m)
    z, credible, valid, text = _batch()

    def loss_of(zz):
        torch.manual_seed(0)  # the same dropout masks each time
        return m.loss(zz, credible, valid, text, generator=torch.Generator().manual_seed(5))[0]

    base = loss_of(z)
    perturbed = z.clone()
    perturbed[~credible] += 10 * torch.randn(int((~credible).sum()), 8)
    assert torch.equal(loss_of(perturbed), base)
    padded = z.clone()
    padded[0, 4:] += 10.0  # padding tokens too
    assert torch.equal(loss_of(padded), base)
    moved = z.clone()
    moved[credible] += 1.0  # control: credible tokens do matter
    assert not torch.allclose(loss_of(moved), base)
    zg = z.clone().requires_grad_(True)
    loss_of(zg).backward()
    assert zg.grad[~credible].abs().max() == 0 and zg.grad[credible].abs().max() > 0


def test_sampling_is_deterministic_per_generator_and_keeps_known_tokens():
    m = _model().eval()
    text = torch.randn(2, 12)
    a = m.sample(text, 5, steps=4, generator=torch.Generator().manual_seed(7))
    b = m.sample(text, 5, steps=4, generator=torch.Generator().manual_seed(7))
    c = m.sample(text, 5, steps=4, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    known = torch.randn(2, 5, 5, 8)
    known_mask = torch.zeros(2, 5, 5, dtype=torch.bool)
    known_mask[0, :, :3] = True  # keep the torso and arms of sample 0
    known_mask[1, 1:3] = True  # keep frames 4..11 of sample 1
    out = m.sample(text, 5, steps=4, generator=torch.Generator().manual_seed(7),
                   known=known, known_mask=known_mask)
    assert torch.equal(out[known_mask], known[known_mask])
    assert not torch.allclose(out[~known_mask], known[~known_mask])
    with pytest.raises(ValueError):
        m.sample(text, 0)
    with pytest.raises(ValueError):
        m.sample(text, m.cfg.max_time_tokens + 1)


@pytest.mark.parametrize("kw,steps", [({}, 200), ({"diffusion_head": False}, 100)])
def test_learns_text_conditioned_tokens(kw, steps):
    """Two prompts, two constant token grids: after a short fit, sampling with CFG recovers each."""
    torch.manual_seed(0)
    m = _model(dropout=0.0, head_batch_mul=2, **kw)
    N, P, C = 2, 5, 8
    proto = torch.randn(2, N, P, C, generator=torch.Generator().manual_seed(1))
    texts = torch.eye(2, 12)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(2)
    B = 8
    credible = torch.ones(B, N, P, dtype=torch.bool)
    valid = torch.ones(B, N, dtype=torch.bool)
    for _ in range(steps):
        idx = torch.randint(0, 2, (B,), generator=g)
        z = proto[idx] + 0.05 * torch.randn(B, N, P, C, generator=g)
        loss, _ = m.loss(z, credible, valid, texts[idx], g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    out = m.sample(texts, N, cfg_scale=2.0, steps=4, temperature=0.5,
                   generator=torch.Generator().manual_seed(3))
    err_right = (out - proto).abs().mean().item()
    err_swapped = (out - proto.flip(0)).abs().mean().item()
    assert err_right < 0.4 * err_swapped, (err_right, err_swapped)


def test_text_noise_perturbs_captions_in_training_only():
    """Conditioning augmentation: the loss sees each caption embedding moved (still unit length), a zero
    text_noise leaves it untouched, and sampling never adds it."""
    seen = []

    def record(m):
        m.text_in.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach().clone()))
        return m

    z, credible, valid, text = _batch()
    text = torch.nn.functional.normalize(text, dim=-1)
    for noise in (0.0, 0.3):
        m = record(_model(text_noise=noise, cond_drop=0.0))
        m.loss(z, credible, valid, text, generator=torch.Generator().manual_seed(0))
        got = seen.pop()
        if noise == 0:
            assert torch.equal(got, text)
        else:
            cos = (got * text).sum(-1)
            assert torch.allclose(got.norm(dim=-1), torch.ones(3), atol=1e-5)
            assert (cos < 0.9).all() and (cos > 0.3).all()  # 0.3 per channel of 12: cos ~0.7
        m.eval()
        seen.clear()
        m.sample(text, 2, steps=1, generator=torch.Generator().manual_seed(0))
        assert torch.equal(seen[0], text)  # the prompt's condition (seen[1]: the null text for CFG)
        seen.clear()


def test_text_noise_per_sample_moves_only_the_rows_that_ask_for_it():
    """A per-sample std (what --text-noise-source gives the trainer) overrides the config's: rows with 0
    keep their caption exactly, the others are moved and stay unit length."""
    seen = []
    m = _model(text_noise=0.0, cond_drop=0.0)
    m.text_in.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach().clone()))
    z, credible, valid, text = _batch()
    text = torch.nn.functional.normalize(text, dim=-1)
    m.loss(z, credible, valid, text, generator=torch.Generator().manual_seed(0),
           text_noise=torch.tensor([0.0, 0.3, 0.0]))
    got = seen.pop()
    assert torch.equal(got[[0, 2]], text[[0, 2]])
    assert float((got[1] * text[1]).sum()) < 0.9
    assert torch.allclose(got.norm(dim=-1), torch.ones(3), atol=1e-5)
