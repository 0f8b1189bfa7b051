"""The 3D volume store: whole object extents at native spacing, normalized by harmonization's
own window, and the object ids that tie 3D objects to their 2D masks."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from cosmos_bench.catalog.cards import load_card, load_ontology
from cosmos_bench.harmonize.dataset import Settings, harmonize
from cosmos_bench.propagation.volumes import store_volumes
from cosmos_bench.report.tables.aggregate import object_key, propagation, propagation_objects
from cosmos_bench.store.shards import ShardReader


def test_the_store_keeps_every_slice_of_the_extent_with_harmonizations_pixels(
    tiny_root: Path,
) -> None:
    card = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    settings = Settings(min_mask_pixels=260)  # the lesion (254 px per slice) leaves 2D
    index = harmonize(card, tiny_root / "raw", tiny_root / "i.parquet", tiny_root / "s", settings)
    out = tiny_root / "volumes"
    n = store_volumes(card, tiny_root / "raw", out, tiny_root / "v.parquet", settings)
    objects = pd.read_parquet(tiny_root / "v.parquet").set_index("object")
    assert n == 2 and set(objects.index) == {"liver", "lesion"}
    assert (objects.loc["lesion", "z_first"], objects.loc["lesion", "z_last"]) == (2, 7)
    spacing = objects.loc["liver", ["spacing_z", "spacing_y", "spacing_x"]]
    assert tuple(spacing) == pytest.approx((3.0, 0.8, 0.8))
    with h5py.File(out / objects.loc["lesion", "file"]) as f:
        image, labels = f["image"][()], f["labels"][()]
        assert tuple(f.attrs["spacing"]) == pytest.approx((3.0, 0.8, 0.8))
    assert image.shape == (8, 96, 96) and image.dtype == np.uint8
    lesion = labels[0] == objects.loc["lesion", "label"]
    assert lesion.sum() == objects.loc["lesion", "voxels"]
    in_2d = index[index.object == "lesion"]
    assert in_2d.empty and lesion.any(axis=(1, 2)).sum() == 6  # dropped in 2D, kept in 3D
    # the same pixels as the 2D shard: one normalization implementation
    row = index[index.slice == "z0004"].iloc[0]
    with ShardReader(tiny_root / "s" / f"shard-{row.shard:05d}.h5") as reader:
        assert np.array_equal(reader.image(int(row.row)), image[4])
    # every 2D mask maps to its 3D object
    assert set(object_key(index.mask_id)) == {objects.loc["liver", "object_id"]}


def test_the_propagation_table_counts_lost_and_missed_objects_beside_2d() -> None:
    objects = pd.DataFrame({
        "object_id": ["d/c1#1", "d/c1#2", "d/c2#1"], "dataset": "d", "cohort": "",
        "case": ["c1", "c1", "c2"],
        "split": "train", "modality": "CT", "object": ["liver", "lesion", "liver"],
        "target": ["CT/liver", "CT/lesion", "CT/liver"], "model": "m", "protocol": "box-chain",
        "dice": [0.9, 0.0, 0.7], "nsd": [0.8, 0.0, 0.6], "hd95_mm": [2.0, 90.0, 4.0],
        "empty_prediction": [False, True, False], "lost_slices": [0, 4, 2], "n_slices": 5,
    })  # fmt: skip
    masks = pd.DataFrame({
        "mask_id": ["d/c1/z0001#1", "d/c1/z0002#1", "d/c2/z0001#1"], "model": "m",
        "strategy": "S5", "selection": "single", "dice": [0.95, 0.85, 0.8],
    })  # fmt: skip
    table = propagation(propagation_objects(objects, masks)).set_index("target")
    liver = table.loc["CT/liver"]
    assert liver.n_objects == 2 and liver.mean_dice_3d == pytest.approx(0.8)
    assert liver.objects_lost == 1
    assert liver.dice_2d_s5 == pytest.approx(0.85) and liver.n_objects_2d == 2
    lesion = table.loc["CT/lesion"]
    assert lesion.objects_missed == 1 and lesion.n_objects_2d == 0
