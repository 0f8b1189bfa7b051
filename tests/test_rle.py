"""Predictions' RLE is COCO's uncompressed RLE: pycocotools reads what we write, and back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cosmos_bench.core import rle
from cosmos_bench.core.extent import bounds
from cosmos_bench.models.base import mask_bounds

masks = st.tuples(st.integers(1, 23), st.integers(1, 23)).flatmap(
    lambda shape: arrays(bool, shape, elements=st.booleans())
)


def test_runs_are_column_major_and_start_with_zeros() -> None:
    mask = np.array([[1, 0, 0], [1, 1, 0]], bool)  # column-major: 1 1 0 1 0 0
    assert rle.encode(mask).tolist() == [0, 2, 1, 1, 2]
    assert rle.encode(np.zeros((2, 2), bool)).tolist() == [4]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools
@settings(max_examples=150, deadline=None)
@given(mask=masks)
def test_rle_agrees_with_pycocotools_both_ways(mask: np.ndarray) -> None:
    coco = pytest.importorskip("pycocotools.mask")
    h, w = mask.shape
    runs = rle.encode(mask)
    assert np.array_equal(rle.decode(runs, mask.shape), mask)
    ours_read_by_coco = coco.decode(
        coco.frPyObjects({"size": [h, w], "counts": runs.tolist()}, h, w)
    )
    assert np.array_equal(ours_read_by_coco.astype(bool), mask)
    theirs = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert np.array_equal(coco.decode(theirs).astype(bool), rle.decode(runs, (h, w)))
    assert int(coco.area(theirs)) == int(runs[1::2].sum())


def test_a_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="covers 9 pixels"):
        rle.decode(rle.encode(np.ones((3, 3), bool)), (4, 4))


@settings(max_examples=150, deadline=None)
@given(mask=masks, strided=st.booleans())
def test_bounds_are_the_first_and_last_rows_and_columns_with_a_pixel(
    mask: np.ndarray, strided: bool
) -> None:
    """core.extent.bounds (OpenCV's boundingRect on the mask's bytes) against np.nonzero,
    on contiguous masks and on a strided view (a candidate taken from a stack's columns)."""
    if strided:
        mask = np.repeat(mask, 2, axis=1)[:, ::2]
    ys, xs = np.nonzero(mask)
    expected = (ys.min(), ys.max(), xs.min(), xs.max()) if ys.size else None
    assert bounds(mask) == expected
    assert np.array_equal(rle.encode_within(mask, bounds(mask)), rle.encode(mask))


@settings(max_examples=150, deadline=None)
@given(mask=masks)
def test_bounds_found_by_torch_on_a_models_device_are_the_engines(mask: np.ndarray) -> None:
    """models.base.mask_bounds (what split_candidates gives from a GPU) equals
    core.extent.bounds on every mask of a stack; -1 where a mask is empty."""
    stack = np.stack([mask, np.zeros_like(mask), mask[::-1]])
    found = mask_bounds(torch.from_numpy(stack)).numpy()
    for got, one in zip(found, stack, strict=True):
        assert (None if got[0] < 0 else tuple(got)) == bounds(one)
        assert (got < 0).all() == (not one.any())
