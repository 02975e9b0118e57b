"""Motions longer than the model's window: the token grid is filled window by window, each new window
starting with the last OVERLAP tokens of the previous one fixed (RoPAR's known/known_mask). The whole
grid is then decoded in one pass (the P-VAE decoder is convolutional), so seams need no blending."""

from __future__ import annotations

from collections.abc import Callable

import torch

OVERLAP_FRACTION = 0.25  # share of each window's tokens fixed from the previous window


def sample_in_windows(sample_window: Callable, shape: tuple[int, int, int, int], max_tokens: int,
                      device: torch.device, known=None, known_mask=None) -> torch.Tensor:
    """shape (B, N, P, C) with N > max_tokens -> z of that shape. sample_window(n, known, known_mask)
    samples one window of n tokens given the (B, n, P, C) known latents and their (B, n, P) mask."""
    B, num_tokens, P, C = shape
    if known is None:
        known = torch.zeros(B, num_tokens, P, C, device=device)
        known_mask = torch.zeros(B, num_tokens, P, dtype=torch.bool, device=device)
    z = torch.zeros(B, num_tokens, P, C, device=device)
    overlap = max(1, int(max_tokens * OVERLAP_FRACTION))
    done = 0
    while done < num_tokens:
        start = max(0, done - overlap)
        end = min(start + max_tokens, num_tokens)
        k, km = known[:, start:end].clone(), known_mask[:, start:end].clone()
        k[:, : done - start] = z[:, start:done]  # the overlap continues the previous window
        km[:, : done - start] = True
        z[:, start:end] = sample_window(end - start, k, km)
        done = end
    return z
