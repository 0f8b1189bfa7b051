"""Nearest-neighbour resampling between the stored copy and the source's size.

Index arithmetic only (each target pixel takes the source pixel under its centre), so no
interpolation kernel, SIMD path or library version can change a score computed on the result.
"""

from __future__ import annotations

import numpy as np


def _centres(n_out: int, n_in: int) -> np.ndarray:
    """The source index under each target pixel's centre."""
    return np.minimum(((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.int64), n_in - 1)


def resize_nearest(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`array` (H, W[, C]) at `shape` (h, w); the array itself when the size already matches."""
    if array.shape[:2] == tuple(shape):
        return array
    rows, cols = _centres(shape[0], array.shape[0]), _centres(shape[1], array.shape[1])
    return array[rows[:, None], cols[None, :]]
