"""Run-length encoding of binary masks in COCO's convention (uncompressed RLE `counts`).

Runs alternate 0/1 over the mask flattened in column-major (Fortran) order, starting with a
run of zeros (0 when the first pixel is set). A prediction's `rle` column is exactly the
`counts` list of a COCO RLE, so `pycocotools.mask.frPyObjects({"size": [h, w], "counts":
list(rle)}, h, w)` decodes it too; this module does it vectorized, without the C extension.
"""

from __future__ import annotations

import numpy as np


def encode(mask: np.ndarray) -> np.ndarray:
    """COCO run lengths of a 2D binary mask."""
    flat = np.ravel(mask, order="F").astype(bool)
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(bounds)
    if flat.size and flat[0]:
        runs = np.concatenate([[0], runs])
    return runs.astype(np.int32)


def decode(runs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of encode: the (H, W) boolean mask."""
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, runs)
    if flat.size != shape[0] * shape[1]:
        raise ValueError(
            f"RLE covers {flat.size} pixels, shape {shape} needs {shape[0] * shape[1]}"
        )
    return np.ascontiguousarray(flat.reshape(shape, order="F"))
