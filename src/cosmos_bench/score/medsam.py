"""MedSAM's NSD of a 2D case, exactly as its evaluation computes it.

MedSAM's `evaluation/compute_metrics.py` (bowang-lab/MedSAM) scores a 2D case as an H x W x 1
volume with DeepMind's 3D surface distances (the `surface-distance` package, which its
`SurfaceDice.py` copies) at spacing (1, 1, 1) mm and tolerance 2: the slab's flat top and
bottom faces are surface too, so every foreground pixel is surface and a shifted object keeps
most of its area within tolerance. It sets NSD = 0 for a case whose mean Dice over its classes
is <= 0.2 ("NSD is also low when dice is too low"). Here a case is one image (the masks of one
image under one model, strategy, repeat, click and selection are its classes).

This is not a contour NSD: a disc of radius 20 px shifted by 4 px scores 0.96 here and 0.42 as
a 2D contour NSD at 2 px (tests/test_medsam_nsd.py). docs/metrics.md says which column holds
which convention.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import surface_distance

#: MedSAM's tolerance (its spacing is 1, so pixels) and the Dice gate below which NSD is 0
TOLERANCE = 2.0
DICE_GATE = 0.2
#: what scores one image: the masks sharing these are one MedSAM case
CASE_KEYS = ["uid", "model", "strategy", "repeat", "click", "selection"]


def slab_nsd(pred: np.ndarray, gt: np.ndarray) -> float:
    """NSD of one mask as MedSAM computes it for a 2D case (before the Dice gate)."""
    if not pred.any():
        return 0.0
    with warnings.catch_warnings():  # it imports from scipy.ndimage's deprecated namespaces
        warnings.simplefilter("ignore", DeprecationWarning)
        distances = surface_distance.compute_surface_distances(
            gt[..., None].astype(bool), pred[..., None].astype(bool), (1.0, 1.0, 1.0)
        )
    return float(surface_distance.compute_surface_dice_at_tolerance(distances, TOLERANCE))


def gate(scores: pd.DataFrame) -> pd.Series:
    """`nsd_medsam` with MedSAM's gate: 0 on every mask of an image whose mean Dice over its
    masks is <= 0.2."""
    image_dice = scores.groupby(CASE_KEYS, sort=False)["dice"].transform("mean")
    return scores["nsd_medsam"].where(image_dice > DICE_GATE, 0.0)
