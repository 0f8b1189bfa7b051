"""3D Dice, NSD and HD95 against MONAI on random masks with anisotropic spacing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.metrics import compute_hausdorff_distance, compute_surface_dice
from scipy import ndimage

from cosmos_bench.score.metrics3d import score3d

SPACINGS = [(2.5, 0.7, 0.9), (1.0, 1.0, 1.0), (5.0, 0.4, 0.4)]


def blob(rng: np.random.Generator, shape=(20, 36, 40)) -> np.ndarray:
    """A random organ-like mask from smoothed noise, touching the volume's border at times."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), (1.5, 3, 3))
    return field > np.quantile(field, 0.8)


def onehot(mask: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack([~mask, mask])[None].astype(np.float32))


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("seed", range(4))
def test_nsd_and_hd95_equal_monai(spacing: tuple[float, float, float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    gt, pred = blob(rng), blob(rng)
    pred |= ndimage.binary_dilation(gt, iterations=1) & (rng.random(gt.shape) < 0.5)
    tolerance = 2.0
    ours = score3d(pred, gt, spacing, tolerance)
    nsd = compute_surface_dice(onehot(pred), onehot(gt), [tolerance], spacing=list(spacing))
    hd95 = compute_hausdorff_distance(onehot(pred), onehot(gt), percentile=95,
                                      spacing=list(spacing))  # fmt: skip
    assert ours.nsd == pytest.approx(float(nsd), abs=1e-6)
    assert ours.hd95_mm == pytest.approx(float(hd95), abs=1e-6)
    assert ours.dice == pytest.approx(2 * (pred & gt).sum() / (pred.sum() + gt.sum()))


def test_perfect_and_empty_predictions() -> None:
    gt = blob(np.random.default_rng(9))
    perfect = score3d(gt, gt, (3.0, 0.8, 0.8), 1.0)
    assert (perfect.dice, perfect.nsd, perfect.hd95_mm, perfect.empty_prediction) == (
        1.0, 1.0, 0.0, False,
    )  # fmt: skip
    empty = score3d(np.zeros_like(gt), gt, (3.0, 0.8, 0.8), 1.0)
    assert empty.empty_prediction and empty.dice == 0 and empty.nsd == 0
    assert empty.hd95_mm == pytest.approx(math.dist((0, 0, 0), (60, 28.8, 32)))
    with pytest.raises(ValueError, match="ground truth is empty"):
        score3d(gt, np.zeros_like(gt), (1, 1, 1), 1.0)
