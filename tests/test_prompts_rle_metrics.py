"""RLE is lossless; metrics match hand counts. (Prompts: tests/test_prompts.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cosmos_bench.core import rle
from cosmos_bench.score import metrics

masks = arrays(np.bool_, st.tuples(st.integers(1, 24), st.integers(1, 24)))


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
