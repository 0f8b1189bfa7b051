"""The shape of one chosen prediction, for the report's failure taxonomy (report.tables.taxonomy):
how many pieces it falls into and how much of it lies outside the ground truth's tight box.

Measured by scoring on the prediction it scores (at the size Dice is measured), so the report
needs no predictions: a run that stores none (`infer.store_predictions: none`) has them too.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Shape:
    pred_components: int  # 8-connected components of the prediction
    pred_outside_box_px: int  # predicted pixels outside the ground truth's tight box


def shape_of(pred: np.ndarray, box: np.ndarray) -> Shape:
    """The prediction's pieces and its pixels outside `box` (x0, y0, x1, y1 inclusive, the
    ground truth's tight box: core.prompt.tight_box)."""
    area = int(np.count_nonzero(pred))
    if area == 0:
        return Shape(0, 0)
    n_labels, _ = cv2.connectedComponents(pred.astype(np.uint8), connectivity=8)
    x0, y0, x1, y1 = (int(v) for v in box)
    inside = int(np.count_nonzero(pred[y0 : y1 + 1, x0 : x1 + 1]))
    return Shape(n_labels - 1, area - inside)
