"""Noise and shapes shared by the demo phantoms: tissue is never flat and noise is
never white."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

# --------------------------------------------------------------------------- shared helpers


def _smooth_field(
    rng: np.random.Generator, shape: Sequence[int], cells: Sequence[int]
) -> np.ndarray:
    """Zero-mean, unit-std noise with features about ``shape / cells`` in size.

    A coarse random grid is interpolated with separable Gaussian weights: far cheaper than
    low-pass filtering full-resolution noise with a wide kernel.
    """
    out = rng.standard_normal(tuple(c + 2 for c in cells))
    for axis, (n, c) in enumerate(zip(shape, cells, strict=True)):
        pos = np.linspace(1.0, float(c), n)
        weights = np.exp(-0.5 * ((pos[:, None] - np.arange(c + 2)[None, :]) / 0.7) ** 2)
        out = np.moveaxis(np.tensordot(weights, out, axes=([1], [axis])), 0, axis)
    out -= out.mean()
    out /= out.std()
    return out.astype(np.float32)


def _fine_noise(
    rng: np.random.Generator, shape: Sequence[int], sigma: Sequence[float]
) -> np.ndarray:
    """Unit-std, slightly correlated noise: texture and scanner/sensor noise are never white."""
    out = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return out / out.std()


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep one connected blob, so a noisy boundary never spawns detached islands."""
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(sizes.argmax())
