"""3D metrics of one object's predicted volume against its ground truth, at the voxel spacing.

- Dice over voxels.
- Surfaces are boundary *voxels*: voxels of the mask with a 6-connected neighbour outside it
  (outside the volume counts as outside). Distances are exact, between voxel centres in mm
  (spacing given as z, y, x), by k-d tree on the union's bounding box.
- HD95 = the larger of the two directed 95th percentiles (the rule of the 2D metrics and of
  surface-distance; linear interpolation between ranks, as numpy and MONAI).
- NSD at a tolerance (mm) = boundary voxels of either surface within the tolerance of the
  other surface, over all boundary voxels of both: MONAI's `compute_surface_dice` without
  sub-voxel areas. The 2D metrics weight contour points by their marching-squares length
  (surface-distance); in 3D each boundary voxel counts once, which needs no marching-cubes
  area table and is what MONAI and MedPy compute by default. A distance equal to the tolerance
  counts as within, with the 2D metrics' rounding slack (`metrics.within_tolerance`).

Degenerate cases follow the 2D metrics: an empty ground truth is an error; an empty prediction
scores Dice = NSD = 0 and HD95 = the volume's diagonal in mm, and is flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from cosmos_bench.score.metrics import within_tolerance

PERCENTILE = 95.0
_SIX_CONNECTED = ndimage.generate_binary_structure(3, 1)


@dataclass(frozen=True)
class Scores3D:
    dice: float
    nsd: float
    hd95_mm: float
    empty_prediction: bool


def boundary_points(mask: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Centres (mm) of the mask's boundary voxels, (N, 3) in z, y, x order."""
    inner = ndimage.binary_erosion(mask, structure=_SIX_CONNECTED, border_value=0)
    return np.argwhere(mask & ~inner) * np.asarray(spacing, dtype=np.float64)


def _crop(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks on the union's bounding box plus one voxel (clipped at the volume's edge,
    which is outside either way), so the erosion sees the same neighbours."""
    coords = np.argwhere(pred | gt)
    lo = np.maximum(coords.min(axis=0) - 1, 0)
    hi = np.minimum(coords.max(axis=0) + 2, pred.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    return pred[box], gt[box]


def score3d(
    pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, float, float], tolerance_mm: float
) -> Scores3D:
    """Dice, NSD at `tolerance_mm` and HD95 (mm) of a (Z, Y, X) prediction."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    if not gt.any():
        raise ValueError("the ground truth is empty: an object must be present to be scored")
    if not pred.any():
        diagonal = math.dist((0, 0, 0), np.multiply(gt.shape, spacing))
        return Scores3D(0.0, 0.0, diagonal, True)
    overlap = np.count_nonzero(pred & gt)
    dice = 2.0 * overlap / (np.count_nonzero(pred) + np.count_nonzero(gt))
    cropped_pred, cropped_gt = _crop(pred, gt)
    p, g = boundary_points(cropped_pred, spacing), boundary_points(cropped_gt, spacing)
    to_gt = cKDTree(g).query(p)[0]
    to_pred = cKDTree(p).query(g)[0]
    hd95 = max(np.percentile(to_gt, PERCENTILE), np.percentile(to_pred, PERCENTILE))
    # a tie counts as within, also when 5 x 0.4 mm comes out as 2.0000000000000004
    within = np.count_nonzero(within_tolerance(to_gt, tolerance_mm)) + np.count_nonzero(
        within_tolerance(to_pred, tolerance_mm)
    )
    return Scores3D(float(dice), within / (len(p) + len(g)), float(hd95), False)
