"""Intensity normalization to uint8, named presets recorded in the index.

`paper` is COSMOS's rule (min-max of the whole volume to 0..255, no CT window); `medsam` is
MedSAM's (CT window 40/400, other grey modalities clipped to the 0.5-99.5 percentiles of
non-zero voxels). RGB images are kept as they are in both.
"""

from __future__ import annotations

import numpy as np

PRESETS = ("paper", "medsam")
CT_WINDOW = (40.0, 400.0)  # level, width: soft tissue, MedSAM's default


def _minmax(array: np.ndarray, lo: float, hi: float) -> np.ndarray:
    scaled = (np.clip(array.astype(np.float32), lo, hi) - lo) / max(hi - lo, 1e-6)
    return np.round(scaled * 255.0).astype(np.uint8)


def to_uint8(array: np.ndarray, preset: str, modality: str) -> np.ndarray:
    """Normalize a whole volume or 2D image so all its slices share one intensity mapping."""
    if array.dtype == np.uint8 and (array.ndim == 3 and array.shape[-1] == 3):
        return array
    if preset == "paper":
        return _minmax(array, float(array.min()), float(array.max()))
    if preset == "medsam":
        if modality == "CT":
            level, width = CT_WINDOW
            return _minmax(array, level - width / 2, level + width / 2)
        nonzero = array[array > 0]
        if nonzero.size == 0:
            return np.zeros(array.shape, np.uint8)
        lo, hi = np.percentile(nonzero, [0.5, 99.5])
        out = _minmax(array, float(lo), float(hi))
        out[array == 0] = 0
        return out
    raise ValueError(f"unknown normalization preset {preset!r}; choose from {PRESETS}")
