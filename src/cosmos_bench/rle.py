"""Run-length encoding of binary masks, row-major, starting with a run of zeros.

Predictions are stored as RLE so that a shard's masks for every strategy fit in one small
Parquet file; decoding is exact.
"""

from __future__ import annotations

import numpy as np


def encode(mask: np.ndarray) -> np.ndarray:
    """Run lengths of alternating 0/1 runs over the flattened mask, first run is zeros."""
    flat = np.ravel(mask).astype(bool)
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(bounds)
    if flat.size and flat[0]:
        runs = np.concatenate([[0], runs])
    return runs.astype(np.int32)


def decode(runs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of encode."""
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, runs)
    if flat.size != shape[0] * shape[1]:
        raise ValueError(
            f"RLE covers {flat.size} pixels, shape {shape} needs {shape[0] * shape[1]}"
        )
    return flat.reshape(shape)
