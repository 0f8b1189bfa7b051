"""Overlap metrics on one binary prediction and one binary ground truth.

Ground truth is never empty (a mask exists only for a present object); an empty prediction
scores 0, so failures stay in every mean.
"""

from __future__ import annotations

import numpy as np


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    inter = np.count_nonzero(pred & gt)
    total = np.count_nonzero(pred) + np.count_nonzero(gt)
    return 2.0 * inter / total if total else 0.0


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    inter = np.count_nonzero(pred & gt)
    union = np.count_nonzero(pred | gt)
    return inter / union if union else 0.0
