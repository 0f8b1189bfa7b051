"""Model zoo: build an adapter from its config/models.yaml entry."""

from __future__ import annotations

from pathlib import Path

import torch

from cosmos_bench.models.base import Candidates, PromptableModel

__all__ = ["Candidates", "PromptableModel", "build", "resolve_device"]


def resolve_device(name: str) -> torch.device:
    """`auto` takes the GPU the job was given (CUDA_VISIBLE_DEVICES) or the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build(entry: dict, weights: Path | None, device: torch.device, seed: int) -> PromptableModel:
    """Instantiate the adapter named by a zoo entry."""
    adapter = entry["adapter"]
    if adapter == "litemedsam":
        from cosmos_bench.models.litemedsam import LiteMedSAM

        return LiteMedSAM(weights, device)
    if adapter == "grabcut":
        from cosmos_bench.models.grabcut import GrabCut

        return GrabCut(seed)
    if adapter == "otsu-box":
        from cosmos_bench.models.otsu import OtsuBox

        return OtsuBox()
    raise ValueError(f"unknown model adapter {adapter!r}")
