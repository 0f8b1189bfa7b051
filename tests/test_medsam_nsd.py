"""MedSAM's NSD (score.medsam) against MedSAM's own rule, re-derived from its
`evaluation/compute_metrics.py`: a 2D case's label map becomes H x W x 1, each class's surface
Dice is taken with DeepMind's 3D surface distances at spacing (1, 1, 1) and tolerance 2, the
case's NSD is their mean, and it is 0 when the case's mean class Dice is <= 0.2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import surface_distance

from cosmos_bench.score import medsam, metrics


def disc(cy: float, cx: float, r: float, shape=(128, 128)) -> np.ndarray:
    y, x = np.ogrid[: shape[0], : shape[1]]
    return (y - cy) ** 2 + (x - cx) ** 2 <= r * r


def medsam_case(gts: np.ndarray, segs: np.ndarray) -> tuple[float, float]:
    """(DSC, NSD) of one 2D case, as MedSAM's compute_metrics does it on label maps."""
    classes = range(1, int(gts.max()) + 1)
    dsc = float(np.mean([surface_distance.compute_dice_coefficient(gts == i, segs == i)
                         for i in classes]))  # fmt: skip
    if dsc <= 0.2:
        return dsc, 0.0
    nsd = []
    for i in classes:
        d = surface_distance.compute_surface_distances(
            np.expand_dims(gts == i, -1), np.expand_dims(segs == i, -1), [1.0, 1.0, 1.0]
        )
        nsd.append(surface_distance.compute_surface_dice_at_tolerance(d, 2.0))
    return dsc, float(np.mean(nsd))


def project_case(gts: list[np.ndarray], preds: list[np.ndarray]) -> list[float]:
    """The project's per-mask nsd_medsam for the masks of one image, gate applied."""
    pairs = list(zip(preds, gts, strict=True))
    rows = pd.DataFrame({
        "uid": "d/c/z1", "model": "m", "strategy": "S5", "repeat": 0, "click": 0,
        "selection": "single", "dice": [metrics.dice(p, g) for p, g in pairs],
        "nsd_medsam": [medsam.slab_nsd(p, g) for p, g in pairs],
    })  # fmt: skip
    return medsam.gate(rows).tolist()


def test_a_shifted_disc_is_near_one_under_medsam_and_far_from_it_as_a_contour_nsd() -> None:
    """The issue's reviewer check: radius 20, shifted 4 px (and 8 px)."""
    gt = disc(64, 64, 20)
    for shift, slab, contour in ((4, 0.96, 0.42), (8, 0.84, 0.23)):
        pred = disc(64, 64 + shift, 20)
        assert medsam.slab_nsd(pred, gt) == pytest.approx(slab, abs=0.01)
        assert metrics.score(pred, gt, (1.0, 1.0), 2.0).nsd == pytest.approx(contour, abs=0.03)
        assert medsam.slab_nsd(pred, gt) == pytest.approx(medsam_case(gt * 1, pred * 1)[1])


@pytest.mark.parametrize("second_shift", [2, 30])
def test_the_image_is_medsams_case_and_its_mean_dice_gates_every_mask(second_shift) -> None:
    """Two objects in one image: a liver found well and a lesion shifted by 2 px (mean Dice
    above 0.2: each keeps its NSD) or by 30 px (the lesion's Dice is 0, the liver's alone
    cannot lift the mean above 0.2 when it is poor too, so both become 0)."""
    liver, lesion = disc(50, 50, 30), disc(100, 100, 8)
    good = second_shift == 2
    pred_liver = disc(50, 52, 30) if good else disc(50, 90, 30)
    pred_lesion = disc(100, 100 + second_shift, 8)
    gts = liver * 1 + lesion * 2
    segs = np.where(pred_lesion, 2, np.where(pred_liver, 1, 0))
    dsc, nsd = medsam_case(gts, segs)
    ours = project_case([gts == 1, gts == 2], [segs == 1, segs == 2])
    assert (dsc > 0.2) == good
    assert np.mean(ours) == pytest.approx(nsd)
    assert good or ours == [0.0, 0.0]


def test_an_empty_prediction_scores_zero_as_in_medsam() -> None:
    gt = disc(64, 64, 10)
    assert medsam.slab_nsd(np.zeros_like(gt), gt) == 0.0
    assert medsam_case(gt * 1, np.zeros(gt.shape, int)) == (0.0, 0.0)
