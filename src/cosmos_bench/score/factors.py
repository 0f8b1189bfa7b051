"""Object factors of one mask: what COSMOS (Sec. 4.8, Table 6) correlates with Dice.

Why each choice was made, and where the paper, its code and MedSAM differ:
docs/metrics.md ("Object factors, choice by choice").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

MAX_ORDER = 100
DICE_TARGET = 0.97
MIN_GAIN = 0.001  # the paper's 0.1 % stop
PENALTY_N = 2  # n in F_final = F_a + n * 100 * (1 - DICE)
BOX_GROWTH = 0.1
CANVAS = 256  # object long side on the comparison canvas (px)
SAMPLES = 1024  # points per reconstructed contour
_CHUNK = 16  # orders computed together
_SHIFT = 4  # fillPoly fractional bits


@dataclass(frozen=True)
class Factors:
    area_px: int
    area_mm2: float
    aspect_ratio: float
    intensity_difference: float
    fourier_order_paper: int
    fourier_dice_paper: float
    f_final_paper: float
    fourier_order: int
    fourier_dice: float
    f_final: float
    modality_code: int


@dataclass(frozen=True)
class Complexity:
    """Fourier order and Dice where each stopping rule stopped."""

    order_paper: int
    dice_paper: float
    order: int
    dice: float

    @staticmethod
    def f_final(order: int, dice: float) -> float:
        return order + PENALTY_N * 100.0 * (1.0 - dice)


def modality_codes(ontology: dict) -> dict[str, int]:
    """Modality -> its position in the ontology (appending a modality keeps the codes)."""
    return {name: k for k, name in enumerate(ontology["modalities"])}


def aspect_ratio(mask: np.ndarray) -> float:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    return float(min(h, w) / max(h, w))


def intensity_difference(image: np.ndarray, mask: np.ndarray) -> float:
    """|mean inside - mean in the grown box outside the object| (see the module docstring)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    gy, gx = math.ceil(BOX_GROWTH * (y1 - y0)), math.ceil(BOX_GROWTH * (x1 - x0))
    y0, x0 = max(0, y0 - gy), max(0, x0 - gx)
    y1, x1 = min(mask.shape[0], y1 + gy), min(mask.shape[1], x1 + gx)
    box = image[y0:y1, x0:x1].astype(np.float64)
    grey = box.mean(axis=2) if box.ndim == 3 else box
    inside = mask[y0:y1, x0:x1]
    if inside.all():
        return float("nan")
    return float(abs(grey[inside].mean() - grey[~inside].mean()))


def outer_contour(mask: np.ndarray) -> np.ndarray:
    """The largest external contour (x, y) of the mask: the object's outline, holes ignored."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    best = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    return best[:, 0, :].astype(np.float64)


def _segments(contour: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start points, steps and lengths of the closed polygon's non-degenerate segments."""
    closed = np.vstack([contour, contour[:1]])
    step = np.diff(closed, axis=0)
    dt = np.hypot(step[:, 0], step[:, 1])
    keep = dt > 0
    return closed[:-1][keep], step[keep], dt[keep]


def efd(contour: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Elliptic Fourier coefficients (a, b, c, d) per order, shape (len(orders), 4), of the
    closed polygon through the contour's points (Kuhl & Giardina 1982, eq. 6-9)."""
    _, step, dt = _segments(contour)
    t = np.concatenate([[0.0], np.cumsum(dt)])
    period = t[-1]
    n = np.asarray(orders, dtype=np.float64)[:, None]
    phi = 2.0 * np.pi * n * t / period
    dcos, dsin = np.diff(np.cos(phi), axis=1), np.diff(np.sin(phi), axis=1)
    rate = step / dt[:, None]  # dx/dt and dy/dt of each segment
    scale = (period / (2.0 * np.pi**2 * n**2))[:, 0]
    return np.column_stack([scale * (d @ rate[:, axis]) for axis in (0, 1) for d in (dcos, dsin)])


def efd_offset(contour: np.ndarray) -> tuple[float, float]:
    """(A0, C0): the mean of x and y along the closed polygon."""
    start, step, dt = _segments(contour)
    a0, c0 = dt @ (start + step / 2.0) / dt.sum()
    return float(a0), float(c0)


class _Canvas:
    """Maps contour coordinates onto a canvas where the object's long side spans CANVAS px,
    with half that as margin for reconstructions that overshoot."""

    def __init__(self, contour: np.ndarray) -> None:
        lo, hi = contour.min(axis=0), contour.max(axis=0)
        self.scale = CANVAS / max(float((hi - lo).max()), 1.0)
        self.origin = lo - (CANVAS // 2) / self.scale
        self.size = 2 * CANVAS + 1

    def fill(self, points: np.ndarray) -> np.ndarray:
        canvas = np.zeros((self.size, self.size), np.uint8)
        fixed = np.round((points - self.origin) * self.scale * (1 << _SHIFT))
        limit = 4 * self.size << _SHIFT
        vertices = np.clip(fixed, -limit, limit).astype(np.int32)
        cv2.fillPoly(canvas, [vertices], 1, lineType=cv2.LINE_8, shift=_SHIFT)
        return canvas.view(bool)


def fourier_complexity(contour: np.ndarray) -> Complexity:
    """The Fourier order where the paper's rule and the corrected search stop.

    A contour of fewer than three distinct points, such as a pixel or a 2-pixel line, counts
    as an ellipse: order 1 with Dice 1."""
    if len(np.unique(contour, axis=0)) < 3:
        return Complexity(1, 1.0, 1, 1.0)
    contour = contour - contour.min(axis=0)  # exact for pixel coordinates: position-free
    canvas = _Canvas(contour)
    original = canvas.fill(contour)
    original_area = np.count_nonzero(original)
    angle = 2.0 * np.pi * np.arange(SAMPLES) / SAMPLES  # 2 pi t / T at SAMPLES points
    paper: tuple[int, float] | None = None
    previous = -np.inf
    a0, c0 = efd_offset(contour)
    x, y = np.full(SAMPLES, a0), np.full(SAMPLES, c0)
    for start in range(1, MAX_ORDER + 1, _CHUNK):
        orders = np.arange(start, min(start + _CHUNK, MAX_ORDER + 1))
        coeffs = efd(contour, orders)
        cos, sin = np.cos(orders[:, None] * angle), np.sin(orders[:, None] * angle)
        xs = x + np.cumsum(coeffs[:, :1] * cos + coeffs[:, 1:2] * sin, axis=0)
        ys = y + np.cumsum(coeffs[:, 2:3] * cos + coeffs[:, 3:4] * sin, axis=0)
        for k, order in enumerate(orders.tolist()):
            drawn = canvas.fill(np.column_stack([xs[k], ys[k]]))
            inter = np.count_nonzero(drawn & original)
            dsc = float(2.0 * inter / (np.count_nonzero(drawn) + original_area))
            if paper is None and (dsc > DICE_TARGET or dsc - previous < MIN_GAIN):
                paper = (order, dsc)
            if dsc > DICE_TARGET:
                return Complexity(*paper, order, dsc)
            previous = dsc
        x, y = xs[-1], ys[-1]
    return Complexity(*(paper or (MAX_ORDER, dsc)), MAX_ORDER, dsc)


def object_factors(
    image: np.ndarray, mask: np.ndarray, spacing: tuple[float, float], modality_code: int
) -> Factors:
    """All factors of one non-empty mask on its image; spacing (row, column) mm/px or NaN."""
    area = int(np.count_nonzero(mask))
    c = fourier_complexity(outer_contour(mask))
    return Factors(
        area_px=area,
        area_mm2=area * float(spacing[0]) * float(spacing[1]),
        aspect_ratio=aspect_ratio(mask),
        intensity_difference=intensity_difference(image, mask),
        fourier_order_paper=c.order_paper,
        fourier_dice_paper=c.dice_paper,
        f_final_paper=Complexity.f_final(c.order_paper, c.dice_paper),
        fourier_order=c.order,
        fourier_dice=c.dice,
        f_final=Complexity.f_final(c.order, c.dice),
        modality_code=modality_code,
    )
