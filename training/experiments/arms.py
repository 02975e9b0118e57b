"""The key claim's arms: which view of the noisy cache each model trains on and which P-VAE an arm
builds on. A new arm is one entry in ARMS (plus, when it needs its own, one P-VAE in PVAES)."""

from __future__ import annotations

from dataclasses import dataclass, field

VIEWS = ("noisy", "blind")  # the noisy cache with its credibility / every token taken as credible


@dataclass(frozen=True)
class PVAEKind:
    """A P-VAE the arms share: its view of the data and its config changes."""

    view: str
    model: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Arm:
    """A generation arm: its view of the data, the P-VAE it encodes with, RoPAR config changes."""

    view: str
    pvae: str  # a key of PVAES
    model: dict = field(default_factory=dict)


PVAES = {
    "pvae": PVAEKind("noisy"),
    # Without parts a P-VAE cannot leave a noisy limb out: it reads the blind view (noisy channels in its
    # input and loss), as the earlier full-body baseline does.
    "pvae_fullbody": PVAEKind("blind", {"part_decomposition": False}),
}
ARMS = {
    "ropar": Arm("noisy", "pvae"),  # credibility-aware: noisy tokens masked (Eq. 2)
    "blind": Arm("blind", "pvae"),  # the same P-VAE and RoPAR, every token taken as credible
    "fullbody": Arm("blind", "pvae_fullbody"),  # the earlier baseline: full-body tokens, blind
}


def stage_of(kind: str) -> str:
    """A run's stage from its kind: "pvae" for the P-VAEs (reconstruction), "ropar" for the arms."""
    return "pvae" if kind in PVAES else "ropar"
