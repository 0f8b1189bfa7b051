"""Intensity normalization to uint8, named presets recorded in the index.

`paper` is COSMOS's rule (min-max of the whole volume to 0..255, no CT window); `medsam` is
MedSAM's (a CT window per target, soft tissue 40/400 by default, see resources/ct_windows.yaml;
other grey modalities clipped to the 0.5-99.5 percentiles of non-zero voxels, zeros kept at 0).
RGB images are kept as they are in both. No model of the zoo takes more than 8 bits, so there
is no 16-bit preset.
"""

from __future__ import annotations

import functools

import numpy as np

PRESETS = ("paper", "medsam")
ROUNDING = ("round", "truncate")  # to the nearest level, or down as the authors' np.uint8 cast
GREY_2D = ("stretch", "keep")  # an 8-bit grey 2D image min-max stretched, or kept as it is
CT_WINDOW = (40.0, 400.0)  # level, width: soft tissue, MedSAM's default


Window = tuple[float, float, bool] | None  # (lo, hi, keep zeros at 0); None: keep as is


def window(
    array: np.ndarray, preset: str, modality: str, ct_window: tuple[float, float] = CT_WINDOW
) -> Window:
    """The intensity mapping of a whole volume (or 2D image), computed once.

    Applying it slice by slice (`apply`) gives the same bytes as normalizing the volume at
    once, without a float copy of the volume: the memory bound of harmonization."""
    if array.dtype == np.uint8 and (array.ndim == 3 and array.shape[-1] == 3):
        return None
    if preset == "paper":
        return float(array.min()), float(array.max()), False
    if preset == "medsam":
        if modality == "CT":
            level, width = ct_window
            return level - width / 2, level + width / 2, False
        nonzero = array[array > 0]
        if nonzero.size == 0:
            return 0.0, 0.0, True
        lo, hi = np.percentile(nonzero, [0.5, 99.5])
        return float(lo), float(hi), True
    raise ValueError(f"unknown normalization preset {preset!r}; choose from {PRESETS}")


def apply(array: np.ndarray, mapping: Window, rounding: str = "round") -> np.ndarray:
    """Map intensities to uint8 with a window from `window`, each value rounded to the nearest
    level or truncated (`rounding`, ROUNDING).

    Integers of up to 16 bits (CT's int16, most MR) go through a table of the result for every
    value, built once per window: half the time per slice, the same bytes (`_levels`)."""
    if mapping is None:
        return array
    if array.dtype.kind in "iu" and array.dtype.itemsize <= 2:
        bits = array.view(f"u{array.dtype.itemsize}")
        return np.take(_table(mapping, rounding, array.dtype), bits)
    return _levels(array, mapping, rounding)


def _levels(array: np.ndarray, mapping: tuple[float, float, bool], rounding: str) -> np.ndarray:
    """The window's arithmetic, in float32."""
    lo, hi, keep_zero = mapping
    scaled = (np.clip(array.astype(np.float32), lo, hi) - lo) / max(hi - lo, 1e-6)
    levels = scaled * 255.0
    out = (np.floor(levels) if rounding == "truncate" else np.round(levels)).astype(np.uint8)
    if keep_zero:
        out[array == 0] = 0
    return out


@functools.lru_cache(maxsize=16)
def _table(mapping: tuple[float, float, bool], rounding: str, dtype: np.dtype) -> np.ndarray:
    """`_levels` of every value of an integer dtype, indexed by the value's bit pattern."""
    patterns = np.arange(1 << (8 * dtype.itemsize), dtype=f"u{dtype.itemsize}")
    return _levels(patterns.view(dtype), mapping, rounding)


def clip_percentiles(
    pixels: np.ndarray, bounds: tuple[float, float] | None, rounding: str = "round"
) -> np.ndarray:
    """The authors' per-image step (pre_grey_rgb2D.py, from MedSAM): clip a normalized image to
    its `bounds` percentiles (0.95 and 99.5: the 0.95th, not the 95th), stretch that range to
    0..255 and set pixels that were 0 back to 0. All channels of an RGB image share the
    percentiles, as there. None: the image unchanged (the paper names no clipping)."""
    if bounds is None:
        return pixels
    lo, hi = np.percentile(pixels, bounds)
    return apply(pixels, (float(lo), float(hi), True), rounding)


def to_uint8(
    array: np.ndarray, preset: str, modality: str, ct_window: tuple[float, float] = CT_WINDOW
) -> np.ndarray:
    """Normalize a 2D image (or a small volume) in one call."""
    return apply(array, window(array, preset, modality, ct_window))


def part_ct_window(
    dataset: str, targets: set[str], table: dict[str, list[float]]
) -> tuple[tuple[float, float], str]:
    """The CT window (level, width) of one part, and why it was chosen.

    One image serves every target of a slice, so a part gets one window: the dataset's own
    entry if the table has one, else the window its targets share, else the default (a part
    whose targets want different windows, e.g. lungs and heart, keeps soft tissue)."""
    if dataset in table:
        return tuple(table[dataset]), f"dataset {dataset}"
    default = tuple(table.get("default", CT_WINDOW))
    wanted = {tuple(table.get(target, default)) for target in targets}
    if len(wanted) == 1:
        return wanted.pop(), "its targets"
    return default, f"default: its targets want {len(wanted)} different windows"
