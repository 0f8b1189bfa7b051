"""Run-length encoding of binary masks in COCO's convention (uncompressed RLE `counts`).

Runs alternate 0/1 over the mask flattened in column-major (Fortran) order, starting with a
run of zeros (0 when the first pixel is set). A prediction's `rle` column is exactly the
`counts` list of a COCO RLE, so `pycocotools.mask.frPyObjects({"size": [h, w], "counts":
list(rle)}, h, w)` decodes it too; this module does it vectorized, without the C extension.
"""

from __future__ import annotations

import numpy as np

from cosmos_bench.core.extent import Bounds, bounds


def encode(mask: np.ndarray) -> np.ndarray:
    """COCO run lengths of a 2D binary mask."""
    return encode_within(mask, bounds(np.asarray(mask, dtype=bool)))


def encode_within(mask: np.ndarray, box: Bounds | None) -> np.ndarray:
    """COCO run lengths of a 2D binary mask whose bounds (core.extent.bounds, None when empty)
    the caller found already.

    Only the mask's bounding box is read in column-major order: it is padded with a zero row
    above and below, its value changes are mapped to their positions in the whole image (a
    change where the pad met a neighbouring column's pixel, which the whole image does not
    have, comes twice at one position and cancels), and the runs are the gaps between them.
    A 20-pixel object in a 512 x 512 prediction costs its box, not the image."""
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    if box is None:
        return np.array([h * w], np.int32)
    y0, y1, x0, x1 = box
    height = y1 - y0 + 3
    padded = np.zeros((height, x1 - x0 + 1), bool)
    padded[1:-1] = mask[y0 : y1 + 1, x0 : x1 + 1]
    flat = padded.ravel(order="F")
    local = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    where = (x0 + local // height) * h + (y0 - 1 + local % height)
    twice = np.flatnonzero(where[1:] == where[:-1])  # sorted already: the pairs are adjacent
    keep = np.ones(len(where), bool)
    keep[twice], keep[twice + 1] = False, False
    where = where[keep & (where < h * w)]
    return np.diff(np.concatenate([[0], where, [h * w]])).astype(np.int32)


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
