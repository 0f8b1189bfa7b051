"""The adapters for layouts beyond simple pairs: structure files with overlaps, instance maps,
cine frames, multi-channel volumes, DICOM series with PNG ground truth, TIFF stacks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import SimpleITK as sitk
from helpers import ROOT
from mimics.write import (
    discs,
    picture,
    volume,
    write_2d,
    write_dicom_series,
    write_sitk,
    write_tiff_stack,
)

from cosmos_bench.catalog.cards import Card, load_card, load_ontology
from cosmos_bench.core.errors import CosmosError
from cosmos_bench.harmonize.adapters import pack_layers
from cosmos_bench.harmonize.dataset import Settings, harmonize
from cosmos_bench.store.shards import ShardReader

#: a TotalSegmentator-like card (a folder per case, one file per structure) that names the liver
TOTALSEGMENTATOR_LIVER = (
    "modality: CT\nformat: {adapter: structure-files, images: '*/ct.nii.gz',\n"
    "  labels: '{case}/segmentations/{name}.nii.gz', case_from: folder}\n"
    "structures: {liver: liver}\n"
)

def make_root(tmp_path: Path, card: str) -> Card:
    for sub in ("resources", "config", "workflow/schemas"):
        shutil.copytree(ROOT / sub, tmp_path / sub, dirs_exist_ok=True)
    (tmp_path / "config" / "datasets" / "t.yaml").write_text(
        "id: t\nname: t\nhomepage: none\nlicence: CC0-1.0\ncitation: none\n"
        "source: {path: raw, access: generated}\n" + card
    )
    return load_card(tmp_path, "t", load_ontology(tmp_path))


def run(tmp_path: Path, card: Card, settings: Settings | None = None):
    raw, index, shards = tmp_path / "raw", tmp_path / "i.parquet", tmp_path / "s"
    return harmonize(card, raw, index, shards, settings or Settings())


def test_pack_layers_separates_only_what_overlaps() -> None:
    a = np.zeros((4, 4), bool)
    a[:2] = True
    b = np.zeros((4, 4), bool)
    b[3:] = True
    c = np.zeros((4, 4), bool)
    c[1:3] = True  # overlaps both
    layers = pack_layers([(1, a), (2, b), (3, c)])
    assert len(layers) == 2
    assert set(np.unique(layers[0])) == {0, 1, 2} and set(np.unique(layers[1])) == {0, 3}


def test_overlapping_structure_files_keep_every_mask(tmp_path: Path) -> None:
    """HaN-Seg-like: one .seg.nrrd per organ; a nested organ must not erase its container."""
    image, big = volume([1])
    small = np.zeros_like(big)
    small[:, 20:28, 20:28] = 1  # inside the big disc
    case = tmp_path / "raw" / "case_01"
    write_sitk(image, case / "case_01_IMG_CT.nrrd")
    write_sitk(big.astype(np.uint8), case / "case_01_OAR_Brain.seg.nrrd")
    write_sitk(small.astype(np.uint8), case / "case_01_OAR_Pituitary.seg.nrrd")
    card = make_root(
        tmp_path,
        "modality: CT\nformat: {adapter: structure-files, images: 'case_*/case_*_IMG_CT.nrrd',\n"
        "  labels: '{case}/{case}_OAR_{name}.seg.nrrd', case_suffix: _IMG_CT}\n"
        "structures: {Brain: liver, Pituitary: lesion, Missing: spleen}\n",
    )
    index = run(tmp_path, card)
    assert set(index.object) == {"liver", "lesion"}
    small_rows = index[index.object == "lesion"]
    assert (small_rows.layer == 1).all() and (small_rows.area_px == 64).all()
    row = index[index.object == "liver"].iloc[0]
    with ShardReader(tmp_path / "s" / "shard-00000.h5") as shard:
        assert shard.mask(int(row.row), 0, int(row.label)).sum() == row.area_px


def test_instance_maps_and_components_make_one_mask_per_instance_when_kept(
    tmp_path: Path,
) -> None:
    """harmonize.instance_masks keeps the card's instances apart; by default (the paper) they
    are one mask of their category, whichever way the card numbers them."""
    labels = discs((64, 96), [7, 9, 11], radius=8)  # instance ids, not classes
    write_2d(labels.astype(np.uint8), tmp_path / "raw" / "Annotation" / "a.png")
    write_2d(np.full((64, 96, 3), 90, np.uint8), tmp_path / "raw" / "Images" / "a.png")
    card = make_root(
        tmp_path,
        "modality: Histopathology\nformat: {adapter: image-mask-pairs, images: 'Images/*.png',\n"
        "  labels: 'Annotation/{case}.png'}\ninstances: gland\n",
    )
    index = run(tmp_path, card, Settings(instance_masks=True))
    assert sorted(index.label) == [7, 9, 11] and set(index.target) == {"Histopathology/gland"}
    merged = run(tmp_path, card)
    assert len(merged) == 1 and merged.area_px[0] == (labels > 0).sum()
    binary = (labels > 0).astype(np.uint8) * 255
    write_2d(binary, tmp_path / "raw" / "Annotation" / "a.png")
    card = make_root(
        tmp_path,
        "modality: Histopathology\nformat: {adapter: image-mask-pairs, images: 'Images/*.png',\n"
        "  labels: 'Annotation/{case}.png', split: components}\ninstances: gland\n",
    )
    assert sorted(run(tmp_path, card, Settings(instance_masks=True)).label) == [1, 2, 3]
    merged = run(tmp_path, card)
    assert len(merged) == 1 and merged.area_px[0] == (labels > 0).sum()


def test_cine_frames_and_channels_of_4d_images(tmp_path: Path) -> None:
    image, labels = volume([1, 2])
    frames_img = np.stack([image, image])
    frames_lab = np.stack([labels, np.zeros_like(labels)])  # labelled at ED only
    write_sitk(frames_img, tmp_path / "raw" / "A1_sa.nii.gz")
    write_sitk(frames_lab, tmp_path / "raw" / "A1_sa_gt.nii.gz")
    card = make_root(
        tmp_path,
        "modality: Cine-MRI\nformat: {adapter: volume-pairs, images: '*_sa.nii.gz',\n"
        "  labels: '{case}_sa_gt.nii.gz', case_suffix: _sa}\n"
        "labels: {1: left_ventricle, 2: myocardium}\n",
    )
    index = run(tmp_path, card)
    assert set(index.slice.str[:4]) == {"t00-"} and len(index) == 8
    write_sitk(labels, tmp_path / "raw" / "A1_sa_gt.nii.gz")  # 3D labels of a 4D image
    with pytest.raises(CosmosError, match="format.channel"):
        run(tmp_path, card)
    card.raw["format"]["channel"] = 1
    assert len(run(tmp_path, card)) == 8


def test_dicom_series_pair_with_png_ground_truth_by_file_order(tmp_path: Path) -> None:
    image, labels = volume([1], shape=(5, 40, 40))
    folder = tmp_path / "raw" / "CT" / "3" / "DICOM_anon"
    write_dicom_series(image, folder, [f"i{k:04d},0000b.dcm" for k in range(5)])
    for k, plane in enumerate(labels):
        write_2d((plane * 255).astype(np.uint8), folder.parent / "Ground" / f"liver_GT_{k:03d}.png")
    card = make_root(
        tmp_path,
        "modality: CT\nformat: {adapter: dicom-series, images: 'CT/*/DICOM_anon',\n"
        "  labels: 'CT/{case}/Ground/*.png', case_from: regex, case_regex: 'CT/(\\d+)/'}\n"
        "labels: {255: liver}\n",
    )
    index = run(tmp_path, card)
    assert len(index) == 3 and set(index.case) == {"3"}
    assert index.spacing_y.iloc[0] == pytest.approx(0.8)
    (folder.parent / "Ground" / "liver_GT_004.png").unlink()
    with pytest.raises(CosmosError, match="5 DICOM files but 4 label images"):
        run(tmp_path, card)


def test_tiff_stacks_slice_page_by_page(tmp_path: Path) -> None:
    image, labels = volume([255], shape=(4, 48, 48))
    write_tiff_stack(image.astype(np.uint8), tmp_path / "raw" / "train-volume.tif")
    write_tiff_stack(labels.astype(np.uint8), tmp_path / "raw" / "train-labels.tif")
    card = make_root(
        tmp_path,
        "modality: Electron-Microscopy\nformat: {adapter: tiff-stack, images: '*-volume.tif',\n"
        "  labels: '{case}-labels.tif', case_suffix: -volume, split: components}\n"
        "instances: cell\n",
    )
    index = run(tmp_path, card)
    assert list(index.slice) == ["z0001", "z0002"] and index.spacing_x.isna().all()


def test_a_structure_file_cropped_to_its_box_lands_on_the_image_grid(tmp_path: Path) -> None:
    """Slicer .seg.nrrd files may store only their extent: resample by physical position."""
    image, labels = volume([1])
    case = tmp_path / "raw" / "s0001"
    write_sitk(image, case / "ct.nii.gz", spacing=(1.0, 1.0, 2.0))
    crop = labels[1:5, 10:40, 5:45].astype(np.uint8)
    cropped = sitk.GetImageFromArray(crop)
    cropped.SetSpacing((1.0, 1.0, 2.0))
    cropped.SetOrigin((5.0, 10.0, 2.0))  # x, y, z of voxel (5, 10, 1)
    (case / "segmentations").mkdir()
    sitk.WriteImage(cropped, str(case / "segmentations" / "liver.nii.gz"))
    card = make_root(tmp_path, TOTALSEGMENTATOR_LIVER)
    index = run(tmp_path, card)
    expected = int((labels[1] == 1).sum())
    assert len(index) == 4 and (index.area_px == expected).all()


def test_excluded_cases_are_skipped_and_dicom_folders_read_as_volumes(tmp_path: Path) -> None:
    """NCI-ISBI-like: DICOM series folder images with NRRD labels; one known-bad case excluded."""
    image, labels = volume([1, 2], shape=(5, 40, 40))
    for case in ("Prostate-01", "Prostate-02"):
        write_dicom_series(
            image, tmp_path / "raw" / case / "T2", [f"{k:02d}.dcm" for k in range(5)]
        )
        write_sitk(labels.astype(np.uint8), tmp_path / "raw" / f"{case}.nrrd", (0.8, 0.8, 3.0))
    card = make_root(
        tmp_path,
        "modality: T2W-MRI\nformat: {adapter: volume-pairs, images: '*/T2',\n"
        "  labels: '{case}.nrrd', case_from: folder, exclude: [Prostate-02]}\n"
        "labels: {1: prostate, 2: lesion}\n",
    )
    card.raw["format"]["case_from"] = "regex"
    card.raw["format"]["case_regex"] = "^([^/]+)/"
    index = run(tmp_path, card)
    assert set(index.case) == {"Prostate-01"} and set(index.object) == {"prostate", "lesion"}


def run_skipping_only_when_told(tmp_path: Path, card_text: str):
    """The card (its format's UNLABELLED placeholder filled) must stop on an image without
    labels, then index the rest once it says `unlabelled: skip`."""
    with pytest.raises(CosmosError, match="unlabelled: skip"):
        run(tmp_path, make_root(tmp_path, card_text.replace("UNLABELLED", "")))
    return run(tmp_path, make_root(tmp_path, card_text.replace("UNLABELLED", ", unlabelled: skip")))


def test_unlabelled_images_are_skipped_only_when_the_card_says_so(tmp_path: Path) -> None:
    """Chest CT layout: the mask name needs two regex fields; one slice has no mask."""
    labels = discs((48, 48), [1])
    for n in (0, 1):
        write_2d(picture(labels), tmp_path / "raw" / "images" / f"ID0001_{n}.jpg")
    write_2d((labels * 255).astype(np.uint8), tmp_path / "raw" / "masks" / "ID0001_mask_0.png")
    card_text = (
        "modality: CT\nformat: {adapter: image-mask-pairs, images: 'images/*.jpg',\n"
        "  labels: 'masks/{patient}_mask_{slice}.png', case_from: regex,\n"
        "  case_regex: '(?P<patient>ID\\d+)_(?P<slice>\\d+)\\.jpg$'UNLABELLED}\n"
        "labels: {255: lung}\n"
    )
    index = run_skipping_only_when_told(tmp_path, card_text)
    assert list(index.case) == ["ID0001_0"] and list(index.object) == ["lung"]


def test_structure_files_skip_unlabelled_images_only_when_the_card_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Montgomery-like layout (one folder per structure): image b has no structure file."""
    labels = discs((48, 48), [1])
    for case in ("a", "b"):
        write_2d(picture(labels), tmp_path / "raw" / "CXR" / f"{case}.png")
    write_2d((labels * 255).astype(np.uint8), tmp_path / "raw" / "Mask" / "left" / "a.png")
    card_text = (
        "modality: X-ray\nformat: {adapter: structure-files, images: 'CXR/*.png',\n"
        "  labels: 'Mask/{name}/{case}.png'UNLABELLED}\nstructures: {left: left_lung}\n"
    )
    index = run_skipping_only_when_told(tmp_path, card_text)
    assert list(index.case) == ["a"] and list(index.object) == ["left_lung"]
    assert "[t] 1 images without a label file skipped" in capsys.readouterr().err


def test_structure_files_the_card_does_not_name_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """TotalSegmentator-like: files beside the mapped ones are left out, but never silently:
    the harmonize log and the index's summary name them, with the number of images."""
    image, labels = volume([1, 2])
    for case, extra in (("s0001", ["costal_cartilages", "rib_left_1"]), ("s0002", [])):
        folder = tmp_path / "raw" / case
        write_sitk(image, folder / "ct.nii.gz")
        write_sitk((labels == 1).astype(np.uint8), folder / "segmentations" / "liver.nii.gz")
        for name in ["costal_cartilages", *extra]:
            write_sitk((labels == 2).astype(np.uint8), folder / "segmentations" / f"{name}.nii.gz")
    card = make_root(tmp_path, TOTALSEGMENTATOR_LIVER)
    index = run(tmp_path, card)
    assert set(index.object) == {"liver"}
    assert (
        "[t] warning: structure files the card's structures map does not name were left out "
        "(2 names): costal_cartilages (2 images), rib_left_1 (1 image)"
    ) in capsys.readouterr().err
    metadata = pq.read_schema(tmp_path / "i.parquet").metadata
    summary = json.loads(metadata[b"cosmos_bench.harmonize_summary"])
    assert summary["unmapped_structures"] == {"costal_cartilages": 2, "rib_left_1": 1}
