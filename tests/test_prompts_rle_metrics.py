"""Prompts follow the paper's construction; RLE is lossless; metrics match hand counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cosmos_bench import metrics, rle
from cosmos_bench.prompts import kinds_of, make_prompt, positive_points, tight_box

masks = arrays(np.bool_, st.tuples(st.integers(1, 24), st.integers(1, 24)))


def test_tight_box_is_inclusive_and_unpadded() -> None:
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    assert tight_box(mask).tolist() == [3, 2, 8, 4]


def test_s2_uses_the_centroid_when_inside() -> None:
    mask = np.zeros((20, 20), bool)
    mask[4:9, 10:17] = True  # centroid (13, 6)
    prompt = make_prompt("S2", mask)
    assert prompt.points.tolist() == [[13.0, 6.0]]
    assert prompt.point_labels.tolist() == [1]
    assert prompt.box is None


def test_s2_falls_back_to_the_first_foreground_pixel_when_the_centroid_is_outside() -> None:
    ring = np.zeros((21, 21), bool)
    yy, xx = np.mgrid[:21, :21]
    ring[(np.hypot(yy - 10, xx - 10) <= 8) & (np.hypot(yy - 10, xx - 10) >= 5)] = True
    point = make_prompt("S2", ring).points[0]
    ys, xs = np.nonzero(ring)
    assert point.tolist() == [xs[0], ys[0]]  # row-major first foreground pixel


@given(masks.filter(lambda m: m.any()), st.integers(1, 6))
@settings(max_examples=200, deadline=None)
def test_positive_points_lie_on_the_mask(mask: np.ndarray, n: int) -> None:
    points = positive_points(mask, n)
    assert 1 <= len(points) <= n
    for x, y in points:
        assert mask[int(round(y)), int(round(x))]


@given(masks.filter(lambda m: m.any()))
@settings(max_examples=200, deadline=None)
def test_box_contains_the_mask_tightly(mask: np.ndarray) -> None:
    x0, y0, x1, y1 = tight_box(mask).astype(int)
    assert mask[y0 : y1 + 1, x0 : x1 + 1].sum() == mask.sum()
    assert mask[y0].any() and mask[y1].any() and mask[:, x0].any() and mask[:, x1].any()


@given(masks)
@settings(max_examples=300, deadline=None)
def test_rle_round_trip(mask: np.ndarray) -> None:
    runs = rle.encode(mask)
    assert runs.sum() == mask.size
    assert np.array_equal(rle.decode(runs, mask.shape), mask)


def test_rle_rejects_a_wrong_shape() -> None:
    with pytest.raises(ValueError, match="pixels"):
        rle.decode(rle.encode(np.ones((3, 3), bool)), (4, 4))


def test_dice_and_iou_by_hand() -> None:
    gt = np.zeros((4, 4), bool)
    gt[:2, :2] = True  # 4 px
    pred = np.zeros((4, 4), bool)
    pred[:2, 1:3] = True  # 4 px, 2 overlap
    assert metrics.dice(pred, gt) == pytest.approx(0.5)
    assert metrics.iou(pred, gt) == pytest.approx(2 / 6)
    empty = np.zeros_like(gt)
    assert metrics.dice(empty, gt) == 0.0 and metrics.iou(empty, gt) == 0.0
    assert metrics.dice(gt, gt) == 1.0


@given(masks, masks)
@settings(max_examples=200, deadline=None)
def test_dice_iou_relation(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or not (a.any() or b.any()):
        return
    d, j = metrics.dice(a, b), metrics.iou(a, b)
    assert 0.0 <= j <= d <= 1.0
    assert d == pytest.approx(2 * j / (1 + j))


def test_prompt_kinds_of_every_strategy() -> None:
    assert kinds_of("S2") == {"point"} and kinds_of("S5") == {"box"}
    assert kinds_of("S6") == {"box", "point"}
    assert kinds_of("medsam-box-pad5") == {"box"}
    assert kinds_of("S9") == frozenset()
    for strategy in ("S2", "S5"):
        assert make_prompt(strategy, np.ones((3, 3), bool)).kinds == kinds_of(strategy)
