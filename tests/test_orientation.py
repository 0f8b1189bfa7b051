"""Round trips: a volume with an asymmetric marker, stored in any format and any axis order,
comes out of the shard in the documented orientation (LPS: anterior at the top of an axial
slice, the patient's left on the image's right, slices from inferior to superior)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from test_adapters import make_root, run

from cosmos_bench.catalog.cards import Part
from cosmos_bench.harmonize.masks import Kept, kept_masks, value_maps
from cosmos_bench.store.shards import ShardReader

SHAPE = (5, 40, 48)  # z, y, x in LPS


def lps_phantom() -> tuple[np.ndarray, np.ndarray]:
    """Labels in LPS (z, y, x): 1 = a block on the patient's left, anterior, low slices;
    2 = a block posterior-right, high slices. Any flip moves one of them."""
    labels = np.zeros(SHAPE, np.uint8)
    labels[1:3, 4:14, 30:44] = 1  # x large = patient's left (L), y small = anterior (A)
    labels[2:5, 24:36, 4:16] = 2
    image = (labels * 100 + 10).astype(np.int16)
    return image, labels


# (name, direction cosines of the stored array axes, how the LPS array is stored)
STORAGE = {
    "LPS": ((1, 0, 0, 0, 1, 0, 0, 0, 1), lambda a: a),
    "RAS": ((-1, 0, 0, 0, -1, 0, 0, 0, 1), lambda a: a[:, ::-1, ::-1]),
    "flipped-z": ((1, 0, 0, 0, 1, 0, 0, 0, -1), lambda a: a[::-1]),
    "LPI-swapped-xy": ((0, 1, 0, 1, 0, 0, 0, 0, 1), lambda a: a.transpose(0, 2, 1)),
}


def write(array_lps: np.ndarray, path: Path, storage: str) -> None:
    direction, store = STORAGE[storage]
    stored = np.ascontiguousarray(store(array_lps))
    image = sitk.GetImageFromArray(stored)
    image.SetSpacing((0.5, 0.7, 2.0) if storage != "LPI-swapped-xy" else (0.7, 0.5, 2.0))
    image.SetDirection([float(d) for d in direction])
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mhd"])
@pytest.mark.parametrize("storage", list(STORAGE))
def test_every_format_and_axis_order_comes_out_in_lps(
    tmp_path: Path, suffix: str, storage: str
) -> None:
    image, labels = lps_phantom()
    write(image, tmp_path / "raw" / f"c1_img{suffix}", storage)
    write(labels, tmp_path / "raw" / f"c1_seg{suffix}", storage)
    card = make_root(
        tmp_path,
        f"modality: CT\nformat: {{adapter: volume-pairs, images: '*_img{suffix}',\n"
        f"  labels: '{{case}}_seg{suffix}', case_suffix: _img}}\n"
        "labels: {1: liver, 2: spleen}\n",
    )
    index = run(tmp_path, card)
    with ShardReader(tmp_path / "s" / "shard-00000.h5") as shard:
        for row in index.itertuples():
            z = int(row.slice[1:])
            stored = shard.labels(int(row.row))[0]
            assert np.array_equal(stored, labels[z]), (storage, row.slice)
    assert sorted(index[index.object == "liver"].slice) == ["z0001", "z0002"]
    assert (index.spacing_y.iloc[0], index.spacing_x.iloc[0]) == pytest.approx((0.7, 0.5))


@settings(max_examples=60, deadline=None)
@given(
    labels=arrays(np.uint16, (24, 24), elements=st.integers(0, 4)),
    min_pixels=st.integers(0, 120),
)
def test_kept_masks_are_exactly_the_named_objects_above_the_threshold(
    labels: np.ndarray, min_pixels: int
) -> None:
    part = Part.from_raw({"modality": "CT", "format": {}, "labels": {1: "liver", 3: "spleen"}})
    kept, unknown = kept_masks(labels[None], value_maps(part.labels, None, 1), min_pixels)
    counts = {v: int((labels == v).sum()) for v in range(1, 5)}
    expected = [Kept(0, v, part.labels[v], 0, counts[v]) for v in (1, 3) if counts[v] > min_pixels]
    assert kept == expected
    assert unknown == {v for v in (2, 4) if counts[v]}
