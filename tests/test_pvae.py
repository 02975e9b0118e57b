"""P-VAE: shapes, part slicing/merging, recover_from_ric, noisy-cell isolation, overfitting a tiny batch."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ropar_core import skeleton as sk
from ropar_core.pvae import PVAE, PVAE_PRESETS, PVAEConfig, mpjpe_mm, recover_from_ric

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "humanml3d-sample"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sample_or_synthetic(T=64):
    """A real HumanML3D clip when the shared sample is there, else smooth synthetic features."""
    if (SAMPLE / "012314_vecs.npy").is_file():
        vecs = np.load(SAMPLE / "012314_vecs.npy")[:T].astype(np.float32)
        mean, std = np.load(SAMPLE / "Mean.npy"), np.load(SAMPLE / "Std.npy")
    else:
        t = np.linspace(0, 4 * np.pi, T)[:, None]
        vecs = (np.sin(t * np.linspace(0.5, 2, 263)) * 0.1 + np.linspace(0, 1, 263)).astype(np.float32)
        mean, std = vecs.mean(0), vecs.std(0) + 0.05
    return torch.tensor(vecs), torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)


def _model(**kw):
    torch.manual_seed(0)
    m = PVAE(PVAEConfig(**{**PVAE_PRESETS["tiny"], **kw}))
    vecs, mean, std = _sample_or_synthetic()
    m.set_stats(mean, std)
    return m, ((vecs - mean) / std)[None]


VARIANTS = [({}, 5), ({"part_decomposition": False}, 1), ({"shared_parameters": False}, 5)]


@pytest.mark.parametrize("kw,P", VARIANTS)
def test_shapes(kw, P):
    m, x = _model(**kw)
    x = x.repeat(2, 1, 1)
    mu, logvar = m.encode(x, torch.ones(2, 64, 5, dtype=torch.bool))
    assert mu.shape == logvar.shape == (2, 16, P, m.cfg.latent_dim)
    assert m.decode(mu).shape == (2, 64, 263)
    loss, logs = m.loss(x, torch.ones(2, 64, 5, dtype=torch.bool))
    assert torch.isfinite(loss) and {"recon", "pos_mm", "kl"} <= set(logs)


def test_length_must_be_whole_tokens():
    m, x = _model()
    with pytest.raises(ValueError, match="multiple of 4"):
        m.encode(x[:, :62])


def test_split_merge_match_skeleton():
    m, x = _model()
    parts = m.split(x)  # (1, T, 5, D)
    for p, name in enumerate(sk.PART_NAMES):
        np.testing.assert_array_equal(parts[0, :, p, : sk.PART_DIMS[name]].numpy(),
                                      x[0].numpy()[:, sk.PART_CHANNELS[name]])
    # different values per part on the shared channels: merged = their average, as skeleton.merge_parts
    parts = parts + torch.arange(5.0).view(1, 1, 5, 1)
    ref = sk.merge_parts({n: parts[0, :, p, : sk.PART_DIMS[n]].numpy() for p, n in enumerate(sk.PART_NAMES)})
    np.testing.assert_allclose(m.merge(parts * m.part_index_valid)[0].numpy(), ref, atol=1e-5)


@pytest.mark.skipif(not (SAMPLE / "012314_vecs.npy").is_file(), reason="shared HumanML3D sample not present")
def test_recover_from_ric_matches_humanml3d():
    vecs = torch.tensor(np.load(SAMPLE / "012314_vecs.npy"))
    joints = np.load(SAMPLE / "012314_joints.npy")
    np.testing.assert_allclose(recover_from_ric(vecs).numpy(), joints, atol=1e-5)


def _own_channels(part):
    """Channels only `part` carries (its own joints and contacts), not the shared root/spine ones."""
    others = set().union(*(set(sk.PART_CHANNELS[q].tolist()) for q in sk.PART_NAMES if q != part))
    return [c for c in sk.PART_CHANNELS[part].tolist() if c not in others]


@pytest.mark.parametrize("kw", [{}, {"part_decomposition": False}, {"shared_parameters": False}])
def test_noisy_cells_do_not_reach_the_loss(kw):
    m, x = _model(**kw)
    mask = torch.ones(1, 64, 5, dtype=torch.bool)
    mask[0, 20:44, 1] = False  # left arm noisy for 24 frames
    chans = _own_channels("left_arm")

    def loss_of(inp):
        return m.loss(inp, mask, generator=torch.Generator().manual_seed(1))[0]

    base = loss_of(x)
    noisy = x.clone()
    noisy[0, 20:44, chans] += 5 * torch.randn(24, len(chans))
    assert torch.equal(loss_of(noisy), base)
    credible = x.clone()
    credible[0, 0:20, chans] += 5 * torch.randn(20, len(chans))  # the same part while it is credible
    assert not torch.allclose(loss_of(credible), base)
    # and no gradient reaches the noisy cells
    xg = x.clone().requires_grad_(True)
    loss_of(xg).backward()
    assert xg.grad[0, 20:44, chans].abs().max() == 0
    assert xg.grad[0, 0:20, chans].abs().max() > 0


def test_overfits_a_tiny_batch():
    m, x = _model()
    mask = torch.ones(1, 64, 5, dtype=torch.bool)

    def global_mpjpe():
        with torch.no_grad():
            return mpjpe_mm(m.reconstruct(x) * m.feat_std + m.feat_mean, x * m.feat_std + m.feat_mean)

    before = global_mpjpe()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    for _ in range(250):
        loss, logs = m.loss(x, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else logs["pos_mm"].item()
    assert logs["pos_mm"].item() < 0.3 * first, (first, logs)
    after = global_mpjpe()
    assert np.isfinite(after) and after < 0.2 * before, (before, after)
