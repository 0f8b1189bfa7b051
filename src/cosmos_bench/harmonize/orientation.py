"""Canonical orientation and slicing of 3D volumes.

Every 3D reader returns a SimpleITK image (the NIfTI fast path an array with ITK's grid); this
module turns it into a (z, y, x) array in LPS orientation, which is what a radiologist sees on
an axial slice: anterior at the top, the patient's left on the image's right. One orientation
for every format means a left kidney is on the same side of the image in every dataset.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

# For each plane: the array axis to slice along, the uid prefix, and whether rows must be flipped
# so that superior is at the top of coronal and sagittal slices.
PLANES = {"axial": (0, "z"), "coronal": (1, "y"), "sagittal": (2, "x")}
#: a card's `slice_axis` may name a plane, or `acquisition`: each volume's own finest plane
ACQUISITION = "acquisition"


@dataclass
class Volume:
    """A volume in canonical LPS (z, y, x) order with spacing (sz, sy, sx) in mm."""

    array: np.ndarray
    spacing: tuple[float, float, float]


def canonical(image: sitk.Image) -> Volume:
    """Reorient to LPS and return the (z, y, x) array with matching spacing.

    An image already on the LPS axes is not copied by DICOMOrient (the common case of a
    half-GB CT keeps one array copy, not two)."""
    if np.allclose(image.GetDirection(), np.eye(3).ravel()):
        oriented = image
    else:
        oriented = sitk.DICOMOrient(image, "LPS")
    sx, sy, sz = oriented.GetSpacing()
    return Volume(sitk.GetArrayFromImage(oriented), (sz, sy, sx))


def signed_permutation(direction: Sequence[float]) -> tuple[list[int], list[float]] | None:
    """For a direction matrix (row-major, ITK's) whose columns are the patient's axes up to
    order and sign (within 1e-6): each index axis's patient axis and sign. None for an oblique
    grid, which only DICOMOrient reorients."""
    matrix = np.asarray(direction, float).reshape(3, 3)
    axes = [int(a) for a in np.abs(matrix).argmax(axis=0)]
    if sorted(axes) != [0, 1, 2]:
        return None
    signs = [float(np.sign(matrix[axes[c], c])) for c in range(3)]
    exact = np.zeros((3, 3))
    exact[axes, [0, 1, 2]] = signs
    return (axes, signs) if np.allclose(matrix, exact, rtol=0, atol=1e-6) else None


def on_lps_axes(
    array: np.ndarray, spacing: tuple[float, ...], direction: tuple[float, ...]
) -> Volume:
    """`canonical` for an array read without SimpleITK, on a grid `signed_permutation` takes:
    each index axis moved to its patient axis and flipped where it runs backwards, as
    DICOMOrient reorients such a grid."""
    axes, signs = signed_permutation(direction)
    # array axis 2 - c holds index axis c; output axis 2 - r holds patient axis r
    order = [2 - axes.index(2 - b) for b in range(3)]
    out = array.transpose(order)
    flips = tuple(b for b in range(3) if signs[axes.index(2 - b)] < 0)
    out = np.ascontiguousarray(np.flip(out, flips) if flips else out)
    sz, sy, sx = (spacing[axes.index(r)] for r in (2, 1, 0))
    return Volume(out, (sz, sy, sx))


def plane_of(volume: Volume, slice_axis: str) -> str:
    """The plane a card's `slice_axis` names for this volume. `acquisition` is the paper's
    "main viewing plane": the one with the finest in-plane spacing, i.e. slices across the
    coarsest axis (a sagittal knee MR at 0.4 x 0.4 x 1 mm slices sagittally); on ties the
    first of axial, coronal, sagittal."""
    if slice_axis != ACQUISITION:
        return slice_axis
    coarsest = max(volume.spacing)
    axis = next(a for a, s in enumerate(volume.spacing) if np.isclose(s, coarsest, rtol=1e-3))
    return next(plane for plane, (a, _) in PLANES.items() if a == axis)


def slices(volume: Volume, plane: str) -> Iterator[tuple[str, np.ndarray, tuple[float, float]]]:
    """Yield (slice id, 2D array, in-plane spacing (row, col) mm) along the given plane (or
    the volume's acquisition plane, `plane_of`)."""
    plane = plane_of(volume, plane)
    axis, prefix = PLANES[plane]
    arr = volume.array
    sz, sy, sx = volume.spacing
    for k in range(arr.shape[axis]):
        if plane == "axial":
            yield f"{prefix}{k:04d}", arr[k], (sy, sx)
        elif plane == "coronal":
            yield f"{prefix}{k:04d}", arr[::-1, k, :], (sz, sx)
        else:
            yield f"{prefix}{k:04d}", arr[::-1, :, k], (sz, sy)
