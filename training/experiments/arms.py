"""The key claim's arms: which view of the noisy cache each model trains on and which P-VAE an arm
builds on. A new arm is one entry in ARMS (plus, when it needs its own, one P-VAE in PVAES, and when it
reads the data differently, one view in VIEWS). The same table serves the key claim and the paper's
ablations (Table 2)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from training.experiments.discard import discard_cache
from training.experiments.runs import blind_cache

# A view of the noisy cache: None is the cache itself (with its credibility); a function build(noisy,
# dst) -> dst writes a derived cache (built once per experiment, under WORK/caches/<noisy>-<view>).
VIEWS: dict[str, Callable[[Path, Path], Path] | None] = {
    "noisy": None,
    "blind": blind_cache,  # every token taken as credible
    "discard": discard_cache,  # only the stretches in which every part is credible (discard.py says why)
}


def view_path(view: str, noisy: Path, work: Path) -> Path:
    """Where a view of the noisy cache `noisy` lives in an experiment's WORK directory."""
    return noisy if VIEWS[view] is None else work / "caches" / f"{noisy.name}-{view}"


def build_view(view: str, noisy: Path, work: Path) -> Path:
    """The view, written first when it is a derived cache that is not there yet."""
    path = view_path(view, noisy, work)
    return path if VIEWS[view] is None else VIEWS[view](noisy, path)


@dataclass(frozen=True)
class PVAEKind:
    """A P-VAE the arms share: its view of the data and its config changes."""

    view: str  # a key of VIEWS
    model: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Arm:
    """A generation arm: its view of the data, the P-VAE it encodes with, RoPAR config changes."""

    view: str  # a key of VIEWS
    pvae: str  # a key of PVAES
    model: dict = field(default_factory=dict)


PVAES = {
    "pvae": PVAEKind("noisy"),
    "pvae_blind": PVAEKind("blind"),  # the same part P-VAE trained on every token as credible
    "pvae_discard": PVAEKind("discard"),
    # Without parts a P-VAE cannot leave a noisy limb out: it reads the blind view (noisy channels in its
    # input and loss), as the earlier full-body baseline does.
    "pvae_fullbody": PVAEKind("blind", {"part_decomposition": False}),
    # Table 2's P-VAE without shared parameters: one encoder and decoder per part (reconstruction only).
    "pvae_noshared": PVAEKind("noisy", {"shared_parameters": False}),
}
ARMS = {
    "ropar": Arm("noisy", "pvae"),  # credibility-aware: noisy tokens masked (Eq. 2)
    "blind": Arm("blind", "pvae"),  # the same P-VAE and RoPAR, every token taken as credible (Eq. 2 off)
    "blind_both": Arm("blind", "pvae_blind"),  # the paper's blind baseline: both stages trust every token
    "discard": Arm("discard", "pvae_discard"),  # the noisy frames never enter either stage
    "fullbody": Arm("blind", "pvae_fullbody"),  # the earlier baseline: full-body tokens, blind
    # Table 2's ablations of RoPAR, both still credibility-aware: full-body tokens (a token is credible
    # only when every part is) and direct regression instead of the diffusion head.
    "nopart": Arm("noisy", "pvae_fullbody"),
    "nodiffusion": Arm("noisy", "pvae", {"diffusion_head": False}),
}
# The key claim's arms (the others belong to the paper's tables, training/experiments/tables.py).
KEY_CLAIM_ARMS = ("ropar", "blind", "blind_both", "discard", "fullbody")


def stage_of(kind: str) -> str:
    """A run's stage from its kind: "pvae" for the P-VAEs (reconstruction), "ropar" for the arms."""
    return "pvae" if kind in PVAES else "ropar"
