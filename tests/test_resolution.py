"""Native-resolution scoring (score.resolution): a mask the longest-side cap shrinks away is
still prompted, inferred and scored at the source's size; with `stored` it is counted out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mimics.write import write_2d
from test_adapters import make_root

from cosmos_bench.contracts import SUMMARY_KEY
from cosmos_bench.core.resample import resize_nearest
from cosmos_bench.core.strategies import make_prompt
from cosmos_bench.harmonize.dataset import Settings, cap_side, harmonize
from cosmos_bench.infer.shard import infer_shard
from cosmos_bench.models.otsu import OtsuBox
from cosmos_bench.score.shard import score_shard
from cosmos_bench.store.shards import ShardReader

SHAPE = (300, 2400)  # shrunk to 128 x 1024 by the 1024 cap (scale 0.4267)
CARD = (
    "modality: Histopathology\nformat: {adapter: image-mask-pairs, images: 'Images/*.png',\n"
    "  labels: 'Annotation/{case}.png'}\nlabels: {1: gland, 2: lesion}\n"
)


def unsampled_row() -> int:
    """A row that the cap's nearest-neighbour label resize never samples."""
    rows = np.broadcast_to(np.arange(SHAPE[0], dtype=np.uint16)[:, None], SHAPE)
    _, small, _ = cap_side(np.zeros(SHAPE, np.uint8), rows[None].copy(), 1024)
    return int(sorted(set(range(SHAPE[0])) - set(np.unique(small).tolist()))[10])


@pytest.fixture(scope="module")
def shrunk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A wide image with a big disc (gland) and a 1-px line of 400 px (lesion) on a row the
    cap drops: the lesion has 400 pixels at the source's size and none in the stored copy."""
    root = tmp_path_factory.mktemp("resolution")
    labels = np.zeros(SHAPE, np.uint8)
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    labels[np.hypot(yy - 150, xx - 600) < 90] = 1
    labels[unsampled_row(), 1400:1800] = 2
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(70, 10, SHAPE) + 120 * (labels > 0), 0, 255).astype(np.uint8)
    write_2d(labels, root / "raw" / "Annotation" / "a.png")
    write_2d(image, root / "raw" / "Images" / "a.png")
    card = make_root(root, CARD)
    index = harmonize(card, root / "raw", root / "i.parquet", root / "s", Settings())
    return root, index


def test_a_mask_the_cap_shrinks_away_keeps_its_index_row(shrunk) -> None:
    root, index = shrunk
    lesion = index[index.object == "lesion"].iloc[0]
    assert (lesion.height, lesion.width, lesion.orig_height) == (128, 1024, 300)
    assert lesion.area_px == 0 and lesion.orig_area_px == 400
    summary = json.loads(pq.read_schema(root / "i.parquet").metadata[SUMMARY_KEY.encode()])
    assert summary["shrunk_away"] == 1
    with ShardReader(root / "s" / "shard-00000.h5") as reader:
        assert not reader.mask(int(lesion.row), 0, 2).any()
        assert reader.native_mask(int(lesion.row), 0, 2).sum() == 400


def test_native_resolution_scores_the_mask_the_cap_would_drop(shrunk) -> None:
    root, index = shrunk
    shard = root / "s" / "shard-00000.h5"
    predictions = infer_shard(OtsuBox(), index, shard, ["S5"])
    assert set(predictions.mask_id) == set(index.mask_id)
    scores = score_shard(predictions, index, shard, "otsu-box")
    lesion = scores[scores.object == "lesion"].iloc[0]
    assert lesion.area_px == 400  # measured on the source's mask
    assert np.isfinite(lesion.dice) and np.isfinite(lesion.hd_px)
    gland = scores[scores.object == "gland"].iloc[0]
    assert gland.dice > 0.9 and gland.area_px == int(index[index.object == "gland"].orig_area_px[0])


def test_stored_resolution_counts_the_dropped_mask_out(shrunk, capsys) -> None:
    root, index = shrunk
    shard = root / "s" / "shard-00000.h5"
    predictions = infer_shard(OtsuBox(), index, shard, ["S5"], resolution="stored")
    assert "1 masks have no pixel at the stored size" in capsys.readouterr().err
    assert set(predictions.mask_id) == set(index[index.object == "gland"].mask_id)
    scores = score_shard(predictions, index, shard, "otsu-box", resolution="stored")
    native = score_shard(
        infer_shard(OtsuBox(), index, shard, ["S5"]), index, shard, "otsu-box"
    ).set_index("object")
    gland = scores.set_index("object").loc["gland"]
    # the same prediction, upsampled: Dice agrees within the boundary's resampling
    assert gland.area_px < native.loc["gland", "area_px"]
    assert abs(gland.dice - native.loc["gland", "dice"]) < 0.02


def test_prompts_are_taken_at_the_source_size_and_mapped_onto_the_stored_copy(shrunk) -> None:
    root, index = shrunk
    with ShardReader(root / "s" / "shard-00000.h5") as reader:
        source = reader.native_mask(0, 0, 2)
    box = make_prompt("S5", source).box
    scaled = make_prompt("S5", source).scaled(128 / 300, 1024 / 2400).box
    assert np.allclose(scaled, box * np.array([1024 / 2400, 128 / 300] * 2, np.float32))
    assert 0 <= scaled[1] < 128 and scaled[2] < 1024


@settings(max_examples=50, deadline=None)
@given(
    h=st.integers(1, 40), w=st.integers(1, 40), out_h=st.integers(1, 90), out_w=st.integers(1, 90)
)
def test_nearest_resize_takes_the_pixel_under_each_centre(h, w, out_h, out_w) -> None:
    array = np.arange(h * w).reshape(h, w)
    out = resize_nearest(array, (out_h, out_w))
    assert out.shape == (out_h, out_w)
    i, j = out_h - 1, out_w - 1
    assert out[i, j] == array[int((i + 0.5) * h / out_h), int((j + 0.5) * w / out_w)]
    if out_h % h == 0 and out_w % w == 0:  # an integer upsampling repeats every pixel
        assert np.array_equal(out, np.repeat(np.repeat(array, out_h // h, 0), out_w // w, 1))
    assert resize_nearest(array, (h, w)) is array
