"""Metrics of one 2D binary prediction against its ground truth, with one set of conventions.

Why each choice was made, and where the paper, its code and MedSAM differ:
docs/metrics.md ("The 2D conventions, choice by choice").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

PERCENTILE = 95.0
# Relative (and absolute, mm) slack of the NSD tolerance: it absorbs the rounding of
# index x spacing, far below any real difference between two grid distances.
TOLERANCE_SLACK = 1e-12


def within_tolerance(distances: np.ndarray, tolerance_mm: float) -> np.ndarray:
    """Which distances (mm) count as within the tolerance. A tie counts as within, and the
    slack keeps a tie a tie when rounding lands it one ulp above the tolerance."""
    limit = tolerance_mm * (1.0 + TOLERANCE_SLACK) + TOLERANCE_SLACK
    return distances <= limit


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    inter = np.count_nonzero(pred & gt)
    total = np.count_nonzero(pred) + np.count_nonzero(gt)
    return 2.0 * inter / total if total else 0.0


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    inter = np.count_nonzero(pred & gt)
    union = np.count_nonzero(pred | gt)
    return inter / union if union else 0.0


def conformity(dice_value: float) -> float:
    """(3 Dice - 2) / Dice; 0 at Dice 0, as in the official COSMOS code."""
    return (3.0 * dice_value - 2.0) / dice_value if dice_value > 0 else 0.0


def contour_lengths(spacing: tuple[float, float]) -> np.ndarray:
    """Contour length (mm) per 2x2 neighbourhood code 8*tl + 4*bl + 2*tr + br.

    The bits go column by column: each column pair is 2 bits. Marching squares on the four
    pixel centres joins two edge midpoints per segment:
    - a corner pixel alone (in or out) cuts half a diagonal;
    - two pixels on one side cut a full pixel width, horizontal (spacing x) or vertical
      (spacing y);
    - each diagonal pair cuts two half-diagonals."""
    sy, sx = spacing
    half_diagonal = 0.5 * math.hypot(sy, sx)
    table = np.zeros(16)
    table[[1, 2, 4, 8, 7, 11, 13, 14]] = half_diagonal
    table[[5, 10]] = sx  # top pair (tl, tr) or bottom pair (bl, br)
    table[[3, 12]] = sy  # right pair (tr, br) or left pair (tl, bl)
    table[[6, 9]] = 2.0 * half_diagonal
    return table


@dataclass(frozen=True)
class Boundary:
    """One non-empty mask on its tight box, with both kinds of boundary points in image
    coordinates: surfels (mm, with contour lengths) and boundary pixel centres (px)."""

    y0: int
    x0: int
    crop: np.ndarray  # the mask inside its tight box
    area: int
    surfels: cKDTree  # grid-corner points in mm
    lengths: np.ndarray  # contour length (mm) of each surfel, in the tree's data order
    pixels: cKDTree  # boundary pixel centres in px
    pixel_surfel: np.ndarray  # for each boundary pixel, the index of one of its corner surfels

    @classmethod
    def of(cls, mask: np.ndarray, spacing: tuple[float, float]) -> Boundary | None:
        """The boundary of `mask`, or None when the mask is empty."""
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return None
        y0, y1 = int(rows[0]), int(rows[-1]) + 1
        cols = np.flatnonzero(mask[y0:y1].any(axis=0))
        x0, x1 = int(cols[0]), int(cols[-1]) + 1
        # the crop with one pixel of background around it
        p = np.zeros((y1 - y0 + 2, x1 - x0 + 2), np.uint8)
        p[1:-1, 1:-1] = mask[y0:y1, x0:x1]
        crop = p[1:-1, 1:-1].view(bool)
        # corner (i, j) of p's grid lies at image position (y0 + i - 0.5, x0 + j - 0.5)
        pairs = (p[:-1] << 1) | p[1:]  # (top, bottom) of each column pair, 2 bits
        code = (pairs[:, :-1] << 2) | pairs[:, 1:]
        iy, ix = np.nonzero((code - 1) < 14)  # neither 0 (all out) nor 15 (all in)
        sy, sx = spacing
        corners = np.column_stack(((iy + (y0 - 0.5)) * sy, (ix + (x0 - 0.5)) * sx))
        lengths = contour_lengths(spacing)[code[iy, ix]]
        # boundary pixels: inside, with a 4-neighbour outside (MedPy's mask ^ erosion)
        neighbours = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
        py, px = np.nonzero(p[1:-1, 1:-1] > neighbours)
        edge = np.column_stack((py + y0, px + x0)).astype(float)
        # pixel (py, px) has the corners (py, px) .. (py + 1, px + 1); one at least is a surfel
        index = np.full(code.shape, -1, np.int64)
        index[iy, ix] = np.arange(len(iy))
        pixel_surfel = np.maximum.reduce(
            [index[py, px], index[py, px + 1], index[py + 1, px], index[py + 1, px + 1]]
        )
        return cls(
            y0,
            x0,
            crop,
            int(np.count_nonzero(crop)),
            cKDTree(corners, balanced_tree=False),
            lengths,
            cKDTree(edge, balanced_tree=False),
            pixel_surfel,
        )


@dataclass(frozen=True)
class Scores:
    """Every metric of one prediction; distances in mm except `hd_px`."""

    dice: float
    iou: float
    conformity: float
    hd_px: float
    hd95_mm: float
    asd_mm: float
    nsd: float
    empty_prediction: bool
    pred_area_px: int


def weighted_percentile(distances: np.ndarray, weights: np.ndarray, percent: float) -> float:
    """The smallest distance whose cumulative weight reaches `percent` of the total
    (surface-distance's rule). Equal distances need no order among them: the answer is a
    distance, the same for any order up to the rounding of the running sum."""
    order = np.argsort(distances, kind="stable")
    w = weights[order]
    cumulative = np.cumsum(w) / np.sum(w)
    idx = min(int(np.searchsorted(cumulative, percent / 100.0)), len(order) - 1)
    return float(distances[order[idx]])


def _directed_hd_px(
    a: Boundary, b: Boundary, surfel_mm: np.ndarray, spacing: tuple[float, float]
) -> float:
    """max over a's boundary pixels of the distance (px) to b's nearest boundary pixel.

    `surfel_mm` holds the distances of a's surfels to b's. A pixel's own distance lies within
    sqrt 2 px of its corner's, and px = mm / spacing within the spacing's range. Only the
    pixels whose upper bound reaches the best lower bound are searched."""
    corner = surfel_mm[a.pixel_surfel]
    lower = float((corner / max(spacing)).max()) - math.sqrt(2.0)
    candidates = corner / min(spacing) + math.sqrt(2.0) >= lower - 1e-9
    return float(b.pixels.query(a.pixels.data[candidates])[0].max())


def _intersection(a: Boundary, b: Boundary) -> int:
    """Pixels in both masks: counted on the overlap of their tight boxes."""
    y0, x0 = max(a.y0, b.y0), max(a.x0, b.x0)
    y1 = min(a.y0 + a.crop.shape[0], b.y0 + b.crop.shape[0])
    x1 = min(a.x0 + a.crop.shape[1], b.x0 + b.crop.shape[1])
    if y1 <= y0 or x1 <= x0:
        return 0
    sa = a.crop[y0 - a.y0 : y1 - a.y0, x0 - a.x0 : x1 - a.x0]
    sb = b.crop[y0 - b.y0 : y1 - b.y0, x0 - b.x0 : x1 - b.x0]
    return int(np.count_nonzero(sa & sb))


def score(
    pred: np.ndarray,
    gt: np.ndarray,
    spacing: tuple[float, float],
    tolerance_mm: float,
    gt_boundary: Boundary | None = None,
) -> Scores:
    """All metrics of `pred` against `gt` (same shape, bool). `spacing` is (row, column) in
    mm per pixel. Pass `gt_boundary` (Boundary.of(gt, spacing)) to reuse it across the
    candidates of one ground truth."""
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(
            f"prediction {pred.shape} and ground truth {gt.shape} must be one 2D shape"
        )
    sy, sx = (float(s) for s in spacing)
    if not (sy > 0 and sx > 0 and math.isfinite(sy) and math.isfinite(sx)):
        raise ValueError(f"spacing must be positive and finite, got {spacing}")
    g = gt_boundary if gt_boundary is not None else Boundary.of(gt, (sy, sx))
    if g is None:
        raise ValueError("the ground truth is empty: a mask exists only for a present object")
    p = Boundary.of(pred, (sy, sx))
    if p is None:
        h, w = gt.shape
        diagonal_mm = math.hypot(h * sy, w * sx)
        return Scores(0.0, 0.0, 0.0, math.hypot(h, w), diagonal_mm, diagonal_mm, 0.0, True, 0)

    inter = _intersection(p, g)
    total = p.area + g.area
    dsc = 2.0 * inter / total
    gt_to_pred = p.surfels.query(g.surfels.data)[0]
    pred_to_gt = g.surfels.query(p.surfels.data)[0]
    gl, pl = g.lengths, p.lengths
    hd_px = max(
        _directed_hd_px(g, p, gt_to_pred, (sy, sx)), _directed_hd_px(p, g, pred_to_gt, (sy, sx))
    )
    within = (
        gl[within_tolerance(gt_to_pred, tolerance_mm)].sum()
        + pl[within_tolerance(pred_to_gt, tolerance_mm)].sum()
    )
    return Scores(
        dice=dsc,
        iou=inter / (total - inter),
        conformity=conformity(dsc),
        hd_px=hd_px,
        hd95_mm=max(
            weighted_percentile(gt_to_pred, gl, PERCENTILE),
            weighted_percentile(pred_to_gt, pl, PERCENTILE),
        ),
        asd_mm=0.5 * float(gt_to_pred @ gl / gl.sum() + pred_to_gt @ pl / pl.sum()),
        nsd=float(within / (gl.sum() + pl.sum())),
        empty_prediction=False,
        pred_area_px=p.area,
    )
