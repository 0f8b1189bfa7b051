"""The rows and columns a binary mask occupies: the box every prompt, selection and encoding
works inside, so a small object in a large image costs its box.

Reduced as uint8 maxima: numpy's `any` along the rows of a bool array takes about 13x as long
on a 512 x 512 mask (about 590 us against 45 us here), and the engine asks this for every
mask and every candidate. The rows are looked for only between the first and the last
occupied column."""

from __future__ import annotations

import numpy as np


def occupied(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the rows and of the columns that hold a pixel of a 2D mask."""
    flags = np.asarray(mask, dtype=bool).view(np.uint8)
    cols = np.flatnonzero(flags.max(axis=0))
    if not cols.size:
        return cols, cols
    return np.flatnonzero(flags[:, cols[0] : cols[-1] + 1].max(axis=1)), cols
