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


def build(
    entry: dict,
    weights: Path | None,
    device: torch.device,
    seed: int,
    precision: str = "auto",
    compile_networks: bool = False,
) -> PromptableModel:
    """Instantiate the adapter named by a zoo entry, with its precision and compilation.

    SAM-family adapters keep their random init when `weights` is None (benchmarks, tests).
    """
    model = _adapter(entry, weights, device, seed)
    model.precision = precision
    if compile_networks:
        model.compile_networks()
    return model


def _adapter(entry: dict, weights: Path | None, device: torch.device, seed: int):
    adapter = entry["adapter"]
    if adapter == "litemedsam":
        from cosmos_bench.models.litemedsam import LiteMedSAM

        return LiteMedSAM(weights, device)
    if adapter == "sam":
        from cosmos_bench.models.sam import SegmentAnything

        return SegmentAnything(entry["architecture"], weights, device)
    if adapter == "medsam":
        from cosmos_bench.models.sam import MedSAM

        return MedSAM(weights, device)
    if adapter == "sam2":
        from cosmos_bench.models.sam2 import SAM2

        return SAM2(entry["architecture"], weights, device, entry.get("overrides", ()))
    if adapter == "grabcut":
        from cosmos_bench.models.grabcut import GrabCut

        return GrabCut(seed)
    if adapter == "random-walker":
        from cosmos_bench.models.random_walker import RandomWalker

        return RandomWalker()
    if adapter == "otsu-box":
        from cosmos_bench.models.otsu import OtsuBox

        return OtsuBox()
    if adapter == "otsu-text":
        from cosmos_bench.models.otsu_text import OtsuText

        return OtsuText()
    from cosmos_bench.models.plugins import check

    cls = check(adapter, entry)  # the workflow checked it by model id before any job
    return cls(weights=weights, device=device, seed=seed, **entry.get("options", {}))
