"""The box a binary mask occupies: where every prompt, selection and encoding works, so a
small object in a large image costs its box.

Found by OpenCV's `boundingRect` on the mask's bytes (its 8-bit image path scans rows with
SIMD): about 21 us on a 512 x 512 mask here, against 40 us for the occupied columns and rows
as numpy uint8 maxima and 600 us for numpy's bool `any` along rows. The engine asks this for
every mask and every candidate."""

from __future__ import annotations

import cv2
import numpy as np

#: (y0, y1, x0, x1), inclusive
Bounds = tuple[int, int, int, int]


def bounds(mask: np.ndarray) -> Bounds | None:
    """The first and last rows and columns that hold a pixel of a 2D mask; None if empty."""
    flags = np.ascontiguousarray(np.asarray(mask, dtype=bool)).view(np.uint8)
    if not flags.size:
        return None
    x, y, w, h = cv2.boundingRect(flags)
    if not w:
        return None
    return y, y + h - 1, x, x + w - 1
