"""Per-token diffusion head (paper Eq. 3; MAR's DiffLoss in spirit).

A small residual MLP with AdaLN takes a noisy latent token x_t, the timestep t and the transformer's
output z_hat for that token, and predicts the noise eps. Cosine schedule, 1000 training steps;
sampling is DDIM over a few evenly spaced steps, with classifier-free guidance applied on eps and a
temperature that scales the starting noise (and the per-step noise when eta > 0).

`RegressionHead` is the ablation without diffusion: an MLP maps z_hat straight to the token (MSE).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def cosine_alphas_cumprod(num_steps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal cosine schedule: abar_t for t = 0..T-1 (betas clipped at 0.999)."""
    t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0).float()


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(M,) integer or float timesteps -> (M, dim) sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float().unsqueeze(-1) * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x, shift, scale):
    return x * (1 + scale) + shift


class AdaLNBlock(nn.Module):
    """LN -> modulate -> Linear-SiLU-Linear, gated residual; shift/scale/gate come from the condition."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 3 * width))

    def forward(self, x, c):  # x, c: (M, W)
        shift, scale, gate = self.ada(c).chunk(3, dim=-1)
        return x + gate * self.mlp(modulate(self.norm(x), shift, scale))


class DenoiserMLP(nn.Module):
    """eps_theta(x_t | t, z_hat): (M, C), (M,), (M, D) -> (M, C)."""

    def __init__(self, token_dim: int, cond_dim: int, width: int, depth: int):
        super().__init__()
        self.width = width
        self.x_in = nn.Linear(token_dim, width)
        self.t_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.c_in = nn.Linear(cond_dim, width)
        self.blocks = nn.ModuleList(AdaLNBlock(width) for _ in range(depth))
        self.norm_out = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.out = nn.Linear(width, token_dim)

    def forward(self, x, t, cond):
        c = self.t_mlp(timestep_embedding(t, self.width)) + self.c_in(cond)  # (M, W)
        h = self.x_in(x)
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.ada_out(c).chunk(2, dim=-1)
        return self.out(modulate(self.norm_out(h), shift, scale))


def _init_head(module: nn.Module) -> None:
    """Xavier linears; AdaLN modulations and the output layer start at zero (each block = identity)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    for m in module.modules():
        if isinstance(m, (AdaLNBlock, DenoiserMLP)):
            ada = m.ada if isinstance(m, AdaLNBlock) else m.ada_out
            nn.init.zeros_(ada[-1].weight)
            nn.init.zeros_(ada[-1].bias)
        if isinstance(m, DenoiserMLP):
            nn.init.zeros_(m.out.weight)
            nn.init.zeros_(m.out.bias)
            nn.init.normal_(m.t_mlp[0].weight, std=0.02)
            nn.init.normal_(m.t_mlp[2].weight, std=0.02)


def _randn(shape, generator, device, dtype=torch.float32) -> torch.Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=gen_device, dtype=dtype).to(device)


class DiffusionHead(nn.Module):
    def __init__(self, token_dim: int, cond_dim: int, width: int = 256, depth: int = 3,
                 train_steps: int = 1000, sample_steps: int = 16, batch_mul: int = 4, x0_clip: float = 6.0):
        super().__init__()
        self.net = DenoiserMLP(token_dim, cond_dim, width, depth)
        self.train_steps = train_steps
        self.sample_steps = sample_steps
        self.batch_mul = batch_mul  # noise draws per token in training (cheap variance reduction, as MAR)
        self.x0_clip = x0_clip  # tokens are normalised to ~unit scale; bounds x0 guesses at t ~ T
        self.register_buffer("alphas_cumprod", cosine_alphas_cumprod(train_steps), persistent=False)
        _init_head(self)

    def loss(self, target: torch.Tensor, z_cond: torch.Tensor, generator: torch.Generator | None = None):
        """target (M, C), z_cond (M, D) -> scalar eps-MSE (Eq. 3)."""
        target = target.repeat(self.batch_mul, 1)
        z_cond = z_cond.repeat(self.batch_mul, 1)
        M = target.shape[0]
        gen_device = generator.device if generator is not None else target.device
        t = torch.randint(0, self.train_steps, (M,), generator=generator, device=gen_device).to(target.device)
        noise = _randn(target.shape, generator, target.device, target.dtype)
        abar = self.alphas_cumprod[t].unsqueeze(-1)
        x_t = abar.sqrt() * target + (1 - abar).sqrt() * noise
        return F.mse_loss(self.net(x_t, t, z_cond), noise)

    @torch.no_grad()
    def sample(self, z_cond: torch.Tensor, z_uncond: torch.Tensor | None = None, cfg_scale: float = 1.0,
               steps: int | None = None, temperature: float = 1.0, generator: torch.Generator | None = None,
               eta: float = 0.0, noise: torch.Tensor | None = None) -> torch.Tensor:
        """DDIM: z_cond (M, D) [, z_uncond (M, D)] -> tokens (M, C).
        CFG: eps = eps_u + cfg_scale * (eps_c - eps_u), both halves with the same x_t.
        noise (M, C): the starting noise when the caller draws it (e.g. per sample, each with its own
        generator); None draws it from `generator`."""
        steps = steps or self.sample_steps
        M = z_cond.shape[0]
        guided = z_uncond is not None and cfg_scale != 1.0
        cond = torch.cat([z_cond, z_uncond]) if guided else z_cond
        token_dim = self.net.out.out_features
        if noise is None:
            noise = _randn((M, token_dim), generator, z_cond.device)
        x = temperature * noise.to(z_cond.device)
        ts = torch.linspace(self.train_steps - 1, 0, steps).round().long().tolist()
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            x_in = torch.cat([x, x]) if guided else x
            eps = self.net(x_in, torch.full((x_in.shape[0],), t, device=x.device), cond)
            if guided:
                eps_c, eps_u = eps.chunk(2)
                eps = eps_u + cfg_scale * (eps_c - eps_u)
            x = self._ddim_step(x, eps, t, t_prev, eta, temperature, generator)
        return x

    def _ddim_step(self, x, eps, t, t_prev, eta, temperature, generator):
        abar = self.alphas_cumprod[t]
        abar_prev = self.alphas_cumprod[t_prev] if t_prev >= 0 else abar.new_tensor(1.0)
        x0 = ((x - (1 - abar).sqrt() * eps) / abar.sqrt()).clamp(-self.x0_clip, self.x0_clip)
        eps = (x - abar.sqrt() * x0) / (1 - abar).sqrt()  # consistent with the clipped x0
        sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)).sqrt()
        x_prev = abar_prev.sqrt() * x0 + (1 - abar_prev - sigma**2).clamp_min(0).sqrt() * eps
        if eta > 0 and t_prev >= 0:
            x_prev = x_prev + temperature * sigma * _randn(x.shape, generator, x.device)
        return x_prev


class RegressionHead(nn.Module):
    """Ablation (diffusion_head=False): z_hat -> token directly, MSE; sampling is deterministic."""

    def __init__(self, token_dim: int, cond_dim: int, width: int = 256, depth: int = 3, **_ignored):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(cond_dim, width), nn.SiLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.SiLU()]
        layers.append(nn.Linear(width, token_dim))
        self.net = nn.Sequential(*layers)
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def loss(self, target, z_cond, generator=None):
        return F.mse_loss(self.net(z_cond), target)

    @torch.no_grad()
    def sample(self, z_cond, z_uncond=None, cfg_scale=1.0, steps=None, temperature=1.0, generator=None,
               eta=0.0, noise=None):
        pred = self.net(z_cond)
        if z_uncond is not None and cfg_scale != 1.0:
            pred_u = self.net(z_uncond)
            pred = pred_u + cfg_scale * (pred - pred_u)
        return pred
