"""Prompt strategies built from a ground-truth mask, exactly as COSMOS defines them.

S2: one positive point, the mask's centre of mass when it lies inside the mask, otherwise the
first foreground pixel of a uniform stride over the row-major flattened mask (paper Sec. 3.3).
S5: the tight bounding box of the mask, no margin, no jitter.
Coordinates are (x, y) in pixels of the stored image; boxes are [x0, y0, x1, y1] inclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

STRATEGIES = ("S2", "S5")


@dataclass(frozen=True)
class Prompt:
    """Points (N, 2) with labels (N,) 1 = positive, 0 = negative, and/or a box (4,)."""

    strategy: str
    points: np.ndarray | None = None
    point_labels: np.ndarray | None = None
    box: np.ndarray | None = None

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(
            kind for kind, v in (("point", self.points), ("box", self.box)) if v is not None
        )


def tight_box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)


def positive_points(mask: np.ndarray, n: int) -> np.ndarray:
    """Centroid first when inside the mask, then a uniform stride over foreground pixels."""
    ys, xs = np.nonzero(mask)
    stride = max(1, len(ys) // n)
    strided = np.stack([xs[::stride], ys[::stride]], axis=1)[:n].astype(np.float32)
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
    if mask[int(round(cy)), int(round(cx))]:
        strided[0] = (cx, cy)
    return strided


def make_prompt(strategy: str, mask: np.ndarray) -> Prompt:
    """The prompt of one strategy for one ground-truth mask."""
    if strategy == "S2":
        return Prompt(strategy, points=positive_points(mask, 1), point_labels=np.ones(1, np.int64))
    if strategy == "S5":
        return Prompt(strategy, box=tight_box(mask))
    raise ValueError(f"unknown strategy {strategy!r}; known: {STRATEGIES}")


# Prompt kinds of every COSMOS strategy (S1, Everything mode, is prompt-free) and MedSAM's box.
KINDS = {
    "S1": frozenset(),
    "S2": frozenset({"point"}),
    "S3": frozenset({"point"}),
    "S4": frozenset({"point"}),
    "S5": frozenset({"box"}),
    "S6": frozenset({"box", "point"}),
}


def kinds_of(strategy: str) -> frozenset[str]:
    """Prompt kinds a strategy uses, without building a prompt; empty when unknown."""
    if strategy.startswith("medsam-box"):
        return frozenset({"box"})
    return KINDS.get(strategy, frozenset())
