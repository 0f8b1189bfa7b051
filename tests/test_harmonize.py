"""Orientation, slicing, filtering, capping, shards and the index on small synthetic volumes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import phantom, write_volume
from scipy import ndimage

from cosmos_bench.catalog.cards import Card, Part, load_card, load_ontology
from cosmos_bench.contracts import INDEX_SCHEMA, INDEX_SCHEMA_VERSION
from cosmos_bench.core.errors import CosmosError
from cosmos_bench.harmonize.dataset import Settings, cap_side, harmonize
from cosmos_bench.harmonize.masks import Kept, kept_masks, value_boxes, value_maps
from cosmos_bench.harmonize.merge import merge_shares
from cosmos_bench.harmonize.normalize import _levels, apply, part_ct_window, to_uint8
from cosmos_bench.harmonize.orientation import canonical
from cosmos_bench.store.index import read_index
from cosmos_bench.store.shards import ShardReader

RAS = (-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0)  # a NIfTI-style RAS grid, as SimpleITK (LPS) sees it


def test_orientation_is_canonical_whatever_the_storage_order(tmp_path: Path) -> None:
    """The same anatomy stored LPS or RAS gives the same canonical array."""
    image, _ = phantom()
    write_volume(image, tmp_path / "lps.nii.gz", (0.8, 0.7, 3.0))
    write_volume(image[:, ::-1, ::-1].copy(), tmp_path / "ras.nii.gz", (0.8, 0.7, 3.0), RAS)
    a = canonical(sitk.ReadImage(str(tmp_path / "lps.nii.gz")))
    b = canonical(sitk.ReadImage(str(tmp_path / "ras.nii.gz")))
    assert np.array_equal(a.array, b.array)
    assert a.spacing == pytest.approx((3.0, 0.7, 0.8))  # (z, y, x)


def test_paper_rule_drops_masks_of_at_most_50_pixels() -> None:
    labels = np.zeros((20, 20), np.uint16)
    labels[:5, :10] = 1  # 50 px: dropped
    labels[10:16, :10] = 2  # 60 px: kept
    labels[17:, :] = 9  # not in the card
    part = Part.from_raw({"modality": "CT", "format": {}, "labels": {1: "liver", 2: "spleen"}})
    kept, unknown = kept_masks(labels[None], value_maps(part.value_objects, None, 1), 50)
    assert kept == [Kept(0, 2, "spleen", 0, 60)] and unknown == {9}


@pytest.mark.parametrize("seed", range(20))
def test_value_boxes_equal_find_objects_on_the_whole_map(seed: int) -> None:
    """Searching the labelled rectangle only gives find_objects' boxes of the whole map:
    absent values, edge-touching objects and an empty map included."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((int(rng.integers(1, 40)), int(rng.integers(1, 40))), np.uint16)
    for _ in range(int(rng.integers(0, 6))):
        y, x = rng.integers(0, labels.shape[0]), rng.integers(0, labels.shape[1])
        h, w = rng.integers(1, 12, size=2)
        labels[y : y + h, x : x + w] = rng.integers(1, 9)
    assert value_boxes(labels) == ndimage.find_objects(labels)


def test_cap_side_keeps_labels_exact_and_reports_the_scale() -> None:
    image = np.arange(200 * 100, dtype=np.float32).reshape(200, 100).astype(np.uint8)
    labels = np.zeros((200, 100), np.uint16)
    labels[50:150, 20:80] = 3
    small, small_labels, scale = cap_side(image, labels[None], 100)
    assert small.shape == (100, 50) and small_labels.shape == (1, 100, 50)
    assert scale == 0.5
    assert set(np.unique(small_labels)) == {0, 3}


def test_normalization_presets() -> None:
    ct = np.array([[-1000, 40], [240, 3000]], np.int16)
    assert to_uint8(ct, "paper", "CT").tolist() == [[0, 66], [79, 255]]
    assert to_uint8(ct, "medsam", "CT").tolist() == [[0, 128], [255, 255]]
    rgb = np.full((2, 2, 3), 7, np.uint8)
    assert to_uint8(rgb, "paper", "Endoscopy") is rgb


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16", ">i2"])
@pytest.mark.parametrize("rounding", ["round", "truncate"])
@pytest.mark.parametrize(
    "mapping", [(-160.0, 240.0, False), (3.5, 1200.25, True), (0.0, 0.0, True)]
)
def test_the_table_path_equals_the_float_arithmetic(dtype, rounding, mapping) -> None:
    """apply's per-value table gives every value of the dtype exactly the float32 result,
    kept zeros and strided (flipped) slices included."""
    info = np.iinfo(np.dtype(dtype))
    values = np.arange(info.min, info.max + 1).astype(dtype).reshape(-1, 256)[::-1]
    expected = _levels(values, mapping, rounding)
    assert np.array_equal(apply(values, mapping, rounding), expected)
    if mapping[2]:
        assert (expected[values == 0] == 0).all()


def test_harmonize_writes_shards_and_a_versioned_index(tiny_root: Path) -> None:
    card = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    out = tiny_root / "results"
    settings = Settings(images_per_shard=3)
    index = harmonize(card, tiny_root / "raw", out / "index.parquet", out / "shards", settings)
    stored = read_index(out / "index.parquet")
    assert list(stored.columns) == INDEX_SCHEMA.names
    assert len(stored) == len(index)
    assert sorted(p.name for p in (out / "shards").iterdir()) == [
        "shard-00000.h5",
        "shard-00001.h5",
        "shard-00002.h5",
    ]
    assert not list((out / "shards").glob("*.tmp"))
    # 8 slices with the liver, 6 with the lesion (z >= 2)
    assert stored.groupby("object").size().to_dict() == {"lesion": 6, "liver": 8}
    assert set(stored.target) == {"CT/liver", "CT/lesion"}
    row = stored.iloc[0]
    assert row.uid == "tiny/c1/z0000" and row.mask_id == "tiny/c1/z0000#1"
    assert (row.spacing_y, row.spacing_x) == pytest.approx((0.8, 0.8))
    with ShardReader(out / "shards" / "shard-00000.h5") as shard:
        image, labels = shard.image(int(row.row)), shard.labels(int(row.row))
        mask = shard.mask(int(row.row), int(row.layer), int(row.label))
        assert shard.uid(int(row.row)) == row.uid
    assert image.dtype == np.uint8 and image.shape == (96, 96) and labels.shape == (1, 96, 96)
    assert mask.sum() == row.area_px
    ys, xs = np.nonzero(mask)
    assert [xs.min(), ys.min(), xs.max(), ys.max()] == [
        row.bbox_x0,
        row.bbox_y0,
        row.bbox_x1,
        row.bbox_y1,
    ]


def test_index_of_another_schema_version_is_refused(tiny_root: Path) -> None:
    import pyarrow.parquet as pq

    from cosmos_bench.core.errors import CosmosError

    card = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    path = tiny_root / "index.parquet"
    harmonize(card, tiny_root / "raw", path, tiny_root / "shards")
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({"cosmos_bench.index_schema": "0"}), path)
    with pytest.raises(CosmosError, match=f"reads {INDEX_SCHEMA_VERSION}"):
        read_index(path)


def test_a_missing_label_file_is_an_error_not_a_skip(tiny_root: Path) -> None:
    from cosmos_bench.core.errors import CosmosError

    (tiny_root / "raw" / "labelsTr" / "c1.nii.gz").unlink()
    card = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    with pytest.raises(CosmosError, match="no label file") as err:
        harmonize(card, tiny_root / "raw", tiny_root / "i.parquet", tiny_root / "s")
    assert "[tiny]" in str(err.value)


def test_a_damaged_image_file_names_the_dataset_and_the_file(tiny_root: Path) -> None:
    from cosmos_bench.core.errors import CosmosError

    image = tiny_root / "raw" / "imagesTr" / "c1_0000.nii.gz"
    image.write_bytes(image.read_bytes()[:200])  # truncated download
    card = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    with pytest.raises(CosmosError, match="cannot read file") as err:
        harmonize(card, tiny_root / "raw", tiny_root / "i.parquet", tiny_root / "s")
    assert "[tiny]" in str(err.value) and "c1_0000.nii.gz" in str(err.value)
    assert not (tiny_root / "i.parquet").exists()


def test_a_2d_jpeg_mask_is_thresholded(tmp_path: Path) -> None:
    from PIL import Image

    from cosmos_bench.harmonize.adapters.images2d import read_mask

    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 255
    Image.fromarray(mask).save(tmp_path / "m.jpg", quality=70)
    part = Part.from_raw(
        {"modality": "X", "labels": {"1": "polyp"}, "format": {"mask_threshold": 128}}
    )
    labels = read_mask(tmp_path / "m.jpg", part, "x")
    assert set(np.unique(labels)) == {0, 1}
    assert abs(int((labels == 1).sum()) - 100) <= 8


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mhd", ".hdr"])
def test_volume_pairs_read_every_simpleitk_format_alike(tmp_path: Path, suffix: str) -> None:
    """NIfTI, NRRD, MetaImage (.mhd/.raw) and Analyze (.hdr/.img) give the same index."""
    import shutil

    from helpers import ROOT

    for sub in ("resources", "config", "workflow/schemas"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    image, labels = phantom()
    write_volume(image, tmp_path / "raw" / f"c1_img{suffix}", (0.8, 0.8, 3.0))
    write_volume(labels, tmp_path / "raw" / f"c1_seg{suffix}", (0.8, 0.8, 3.0))
    (tmp_path / "config" / "datasets" / "fmt.yaml").write_text(
        f"""id: fmt
name: format check
homepage: none
licence: CC0-1.0
citation: none
modality: CT
source: {{path: raw, access: generated}}
format: {{adapter: volume-pairs, images: "*_img{suffix}", labels: "{{case}}_seg{suffix}",
         case_suffix: _img}}
labels: {{1: liver, 2: lesion}}
"""
    )
    card = load_card(tmp_path, "fmt", load_ontology(tmp_path))
    index = harmonize(card, tmp_path / "raw", tmp_path / "i.parquet", tmp_path / "s")
    assert index.groupby("object").size().to_dict() == {"lesion": 6, "liver": 8}
    assert (index.spacing_y.iloc[0], index.spacing_x.iloc[0]) == pytest.approx((0.8, 0.8))


def test_case_ids_from_folders_as_kits_names_them(tmp_path: Path) -> None:
    """KiTS19 layout: data/case_00000/imaging.nii.gz + segmentation.nii.gz."""
    import shutil

    from helpers import ROOT

    for sub in ("resources", "config", "workflow/schemas"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    image, labels = phantom()
    for case in ("case_00000", "case_00001"):
        write_volume(image, tmp_path / "raw" / "data" / case / "imaging.nii.gz", (0.8, 0.8, 3.0))
        write_volume(
            labels, tmp_path / "raw" / "data" / case / "segmentation.nii.gz", (0.8, 0.8, 3.0)
        )
    (tmp_path / "config" / "datasets" / "kits.yaml").write_text(
        """id: kits
name: KiTS-like layout
homepage: none
licence: CC0-1.0
citation: none
modality: CT
source: {path: raw, access: generated}
format: {adapter: volume-pairs, images: "data/*/imaging.nii.gz",
         labels: "data/{case}/segmentation.nii.gz", case_from: folder}
labels: {1: liver, 2: lesion}
"""
    )
    card = load_card(tmp_path, "kits", load_ontology(tmp_path))
    index = harmonize(card, tmp_path / "raw", tmp_path / "i.parquet", tmp_path / "s")
    assert sorted(index.case.unique()) == ["case_00000", "case_00001"]
    assert index.uid.iloc[0] == "kits/case_00000/z0000"


def test_medsam_filter_components_and_windows_reach_the_index(tiny_root: Path) -> None:
    """MedSAM's dust filter keeps small objects the paper drops; a split lesion gets component
    numbers; the CT window used is recorded per mask."""
    card = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    out = tiny_root / "results"
    settings = Settings(
        normalization="medsam",
        ct_windows={"default": [40, 400], "CT/lesion": [100, 600]},
        mask_filter="medsam",
        components=frozenset({"lesion"}),
    )
    index = harmonize(card, tiny_root / "raw", out / "i.parquet", out / "s", settings)
    lesions = index[index.object == "lesion"]
    assert set(lesions.component) == {1} and set(index[index.object == "liver"].component) == {0}
    assert (lesions.label > 2).all() and (index.mask_filter == "medsam").all()
    # liver and lesion want different windows: the part keeps the default
    assert set(zip(index.window_lo, index.window_hi, strict=True)) == {(-160.0, 240.0)}


def test_part_ct_window_rules() -> None:
    table = {"default": [40, 400], "CT/lung": [-600, 1500], "chest": [0, 1000]}
    assert part_ct_window("x", {"CT/lung"}, table) == ((-600, 1500), "its targets")
    assert part_ct_window("x", {"CT/lung", "CT/heart"}, table)[0] == (40, 400)
    assert part_ct_window("chest", {"CT/lung", "CT/heart"}, table)[0] == (0, 1000)
    assert part_ct_window("x", {"CT/liver"}, {}) == ((40.0, 400.0), "its targets")


def test_medsam_dust_drops_small_3d_components_before_slicing(tmp_path: Path) -> None:
    """A 3-slice speck of 4x4 px (48 voxels) goes under `litemedsam` (100 voxels) even though
    each slice's 16 px pass its 2D threshold (10 px); the paper drops it for 16 <= 50 px."""
    image, labels = phantom()
    labels[0:3, 80:84, 80:84] = 2
    write_volume(image, tmp_path / "raw" / "imagesTr" / "c1_0000.nii.gz", (0.8, 0.8, 3.0))
    write_volume(labels, tmp_path / "raw" / "labelsTr" / "c1.nii.gz", (0.8, 0.8, 3.0))
    card = Card(
        {
            "id": "speck",
            "source": {"path": "raw", "access": "generated"},
            "modality": "CT",
            "format": {
                "adapter": "volume-pairs",
                "images": "imagesTr/*_0000.nii.gz",
                "labels": "labelsTr/{case}.nii.gz",
                "case_suffix": "_0000",
            },
            "labels": {1: "liver", 2: "lesion"},
        }
    )
    lesions = {}
    for name in ("paper", "litemedsam"):
        index = harmonize(
            card,
            tmp_path / "raw",
            tmp_path / f"{name}.parquet",
            tmp_path / name,
            Settings(mask_filter=name),
        )
        lesions[name] = index[index.object == "lesion"].set_index("slice").area_px
    assert lesions["litemedsam"].index.tolist() == [f"z{k:04d}" for k in range(2, 8)]
    assert lesions["paper"].index.tolist() == lesions["litemedsam"].index.tolist()
    # on z0002 the speck touches nothing but shares the lesion's label: the paper keeps it
    assert lesions["paper"]["z0002"] - lesions["litemedsam"]["z0002"] == 16


def test_an_unreadable_linked_file_names_its_source_and_the_card_key(tmp_path: Path) -> None:
    """A text file named .png in a local source folder: the message names the source file (not
    the link under results/raw) and the two fixes: replace it, or format.exclude."""
    from cosmos_bench.core.errors import CosmosError
    from cosmos_bench.harmonize.adapters.images2d import open_2d

    source = tmp_path / "source" / "case1.png"
    source.parent.mkdir()
    source.write_text("not an image")
    link = tmp_path / "raw" / "case1.png"
    link.parent.mkdir()
    link.symlink_to(source)
    with pytest.raises(CosmosError) as err:
        open_2d(link, "mine")
    message = str(err.value)
    assert f"(the source file {source})" in message and "format.exclude" in message


def test_an_itk_written_nifti_is_read_without_a_second_decompression(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SimpleITK writes vox_offset 352; the trailer check must see it (nibabel's header copy
    says 0), so a whole file is never decompressed once for the check and again to read it.
    A file cut short still fails by the full check."""
    import types

    import SimpleITK as sitk

    from cosmos_bench.core.errors import CosmosError
    from cosmos_bench.harmonize.adapters import volumes

    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.arange(4 * 8 * 8, dtype=np.int16).reshape(4, 8, 8)),
                    str(path))  # fmt: skip

    def whole_stream(*args: object, **kwargs: object) -> None:
        raise AssertionError("the whole stream was decompressed for the check")

    monkeypatch.setattr(volumes, "gzip", types.SimpleNamespace(open=whole_stream))
    assert sitk.GetArrayFromImage(volumes.read_image(path, "toy")).shape == (4, 8, 8)
    monkeypatch.undo()
    path.write_bytes(path.read_bytes()[:-9])
    with pytest.raises(CosmosError, match="damaged gzip stream"):
        volumes.read_image(path, "toy")


def test_a_case_split_harmonize_equals_one_job(tiny_root: Path) -> None:
    """Seven cases over eight shares (so some hold none), merged: the same masks, images,
    label layers and index rows as one job, shard and row numbers aside."""
    raw = tiny_root / "raw"
    for k in range(2, 8):
        image, labels = phantom(seed=k)
        labels = np.roll(labels, 4 * k, axis=2)  # each case its own geometry
        write_volume(image, raw / "imagesTr" / f"c{k}_0000.nii.gz", (0.8, 0.8, 3.0))
        write_volume(labels, raw / "labelsTr" / f"c{k}.nii.gz", (0.8, 0.8, 3.0))
    card = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    settings, out = Settings(images_per_shard=5), tiny_root / "out"
    harmonize(card, raw, out / "one.parquet", out / "one", settings)
    whole = read_index(out / "one.parquet")
    shares = [(out / f"s{k}.parquet", out / f"s{k}") for k in range(8)]
    for k, (index, shards) in enumerate(shares):
        harmonize(card, raw, index, shards, settings, share=(k, 8))
    sizes = [read_index(index).uid.nunique() for index, _ in shares]
    assert 0 in sizes and sum(sizes) == whole.uid.nunique()
    merged = merge_shares(shares, out / "index.parquet", out / "shards", "tiny")
    assert merged.equals(read_index(out / "index.parquet"))
    numbers = sorted(p.name for p in (out / "shards").iterdir())
    assert numbers == [f"shard-{k:05d}.h5" for k in range(merged.shard.max() + 1)]

    def keyed(index):
        return index.drop(columns=["shard", "row"]).sort_values("mask_id", ignore_index=True)

    assert keyed(merged).equals(keyed(whole))
    pixels = {}
    for index, folder in ((whole, out / "one"), (merged, out / "shards")):
        for (shard, row), rows in index.groupby(["shard", "row"]):
            with ShardReader(folder / f"shard-{shard:05d}.h5") as reader:
                stored = (reader.image(int(row)), reader.labels(int(row)))
            pixels.setdefault(rows.uid.iloc[0], []).append(stored)
    assert len(pixels) == whole.uid.nunique()
    for (image_a, labels_a), (image_b, labels_b) in pixels.values():
        assert np.array_equal(image_a, image_b) and np.array_equal(labels_a, labels_b)


def test_merging_shares_that_hold_no_case_says_nothing_survived(tiny_root: Path) -> None:
    card = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    empty = [k for k in range(50) if not replace(card.parts[0], share=(k, 50)).holds("c1")][:2]
    shares = [(tiny_root / f"s{k}.parquet", tiny_root / f"s{k}") for k in empty]
    for k, (index, shards) in zip(empty, shares, strict=True):
        assert harmonize(card, tiny_root / "raw", index, shards, share=(k, 50)).empty
    with pytest.raises(CosmosError, match="no mask survived harmonization in any of its 2"):
        merge_shares(shares, tiny_root / "i.parquet", tiny_root / "shards", "tiny")
    assert not (tiny_root / "i.parquet").exists() and not (tiny_root / "shards").exists()
