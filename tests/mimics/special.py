"""Mimics of group D: DICOM series, TIFF stacks, instance label maps and structure files.

CHAOS (DICOM + per-slice PNG), NeurIPS 2022 CellSeg (mixed-format images with instance TIFFs),
HaN-Seg (one .seg.nrrd per organ at risk), EPFL EM and ISBI 2012 ssTEM (multi-page TIFFs).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from mimics.write import (
    discs,
    picture,
    volume,
    write_2d,
    write_dicom_series,
    write_sitk,
    write_tiff_stack,
    zip_tree,
)

CHAOS_MR = (63, 126, 189, 252)  # liver, right kidney, left kidney, spleen


def _archive(tree: Path, out: Path, name: str) -> None:
    zip_tree(tree, out / name)
    shutil.rmtree(tree)


def _series(series: Path, ground: Path | None, stems: list[str], values, seed: int) -> None:
    """A DICOM series (<stem>.dcm) and, unless `ground` is None, its per-slice label PNGs."""
    image, labels = volume(values, shape=(6, 48, 48), seed=seed)
    write_dicom_series(image, series, [f"{stem}.dcm" for stem in stems])
    if ground is not None:
        for plane, stem in zip(labels, stems, strict=True):
            write_2d(plane.astype(np.uint8), ground / f"{stem}.png")


def build_chaos(out: Path) -> None:
    """CT patient 1 (liver 255; i0000,0000b.dcm + liver_GT_000.png) and MR patient 1."""
    tree = out / "_tree" / "Train_Sets"
    ct = tree / "CT" / "1"
    _series(ct / "DICOM_anon", None, [f"i{k:04d},0000b" for k in range(6)], [255], seed=1)
    _, liver = volume([255], shape=(6, 48, 48), seed=1)
    for k, plane in enumerate(liver):
        write_2d(plane.astype(np.uint8), ct / "Ground" / f"liver_GT_{k:03d}.png")
    t1, t2 = tree / "MR" / "1" / "T1DUAL", tree / "MR" / "1" / "T2SPIR"
    # in-phase and out-phase share T1DUAL/Ground (named after the in-phase slices)
    in_phase = [f"IMG-0004-{2 * k + 2:05d}" for k in range(6)]
    _series(t1 / "DICOM_anon" / "InPhase", t1 / "Ground", in_phase, CHAOS_MR, seed=2)
    out_phase = [f"IMG-0004-{2 * k + 1:05d}" for k in range(6)]
    _series(t1 / "DICOM_anon" / "OutPhase", None, out_phase, CHAOS_MR, seed=3)
    t2_stems = [f"IMG-0002-{k + 1:05d}" for k in range(6)]
    _series(t2 / "DICOM_anon", t2 / "Ground", t2_stems, CHAOS_MR, seed=4)
    _archive(out / "_tree", out, "CHAOS_Train_Sets.zip")


def build_neurips22_cellseg(out: Path) -> None:
    tree = out / "_tree" / "Training-labeled"
    # the release keeps each image's original format; labels are TIFF instance maps
    formats = [
        ("bmp", True, np.uint8),
        ("png", False, np.uint8),
        ("tif", False, np.uint16),
        ("tiff", True, np.uint8),
    ]
    for k, (ext, rgb, dtype) in enumerate(formats, start=1):
        labels = discs((64, 80), range(1, 3 + k % 2))
        image = picture(labels, rgb=rgb, seed=k).astype(dtype)
        if dtype == np.uint16:
            image = image * 200
        write_2d(image, tree / "images" / f"cell_{k:05d}.{ext}")
        label_dtype = np.int32 if k == 2 else np.uint16
        write_2d(labels.astype(label_dtype), tree / "labels" / f"cell_{k:05d}_label.tiff")
    _archive(out / "_tree", out, "Training-labeled.zip")


HANSEG_OARS = (
    "A_Carotid_L A_Carotid_R Arytenoid Bone_Mandible Brainstem BuccalMucosa Cavity_Oral "
    "Cochlea_L Cochlea_R Cricopharyngeus Esophagus_S Eye_AL Eye_AR Eye_PL Eye_PR "
    "Glnd_Lacrimal_L Glnd_Lacrimal_R Glnd_Submand_L Glnd_Submand_R Glnd_Thyroid Glottis "
    "Larynx_SG Lips OpticChiasm OpticNrv_L OpticNrv_R Parotid_L Parotid_R Pituitary SpinalCord"
).split()


def build_han_seg(out: Path) -> None:
    """Case 01 has all 30 OARs (a 5x6 grid of 9x9 squares); case 02 only the first ten, with
    neighbours overlapping as real OARs do (oral cavity and buccal mucosa)."""
    root = out / "_tree" / "HaN-Seg" / "set_1"
    rng = np.random.default_rng(5)
    for case, n, step in (("case_01", 30, 13), ("case_02", 10, 6)):
        ct = rng.normal(0, 10, (4, 64, 80))
        for k, name in enumerate(HANSEG_OARS[:n]):
            mask = np.zeros(ct.shape, np.uint8)
            y, x = 2 + 12 * (k // 6), 2 + step * (k % 6)
            mask[1:3, y : y + 9, x : x + 9] = 1
            ct[mask > 0] += 100 + 20 * (k % 5)
            write_sitk(mask, root / case / f"{case}_OAR_{name}.seg.nrrd")
        write_sitk(ct.astype(np.int16), root / case / f"{case}_IMG_CT.nrrd")
        mr, _ = volume([1], shape=(4, 32, 32), seed=6)  # not registered to the CT; not read
        write_sitk(mr, root / case / f"{case}_IMG_MR_T1.nrrd")
    _archive(out / "_tree", out, "HaN-Seg.zip")


def _em_stack(labels: np.ndarray, seed: int) -> np.ndarray:
    return np.stack([picture(plane, rgb=False, seed=seed + z) for z, plane in enumerate(labels)])


def build_epfl_em(out: Path) -> None:
    """Binary mitochondria stacks (0/255): two separate blobs per slice."""
    for seed, stem in ((7, "training"), (8, "testing")):
        labels = np.stack([discs((48, 64), [255, 255], radius=6) for _ in range(4)])
        labels[0] = 0  # an unlabelled first page, as in most real slices' corners
        write_tiff_stack(_em_stack(labels, seed), out / f"{stem}.tif")
        write_tiff_stack(labels.astype(np.uint8), out / f"{stem}_groundtruth.tif")


def build_sstem(out: Path) -> None:
    """Cells (255) separated by black membranes (0): nine cells per slice."""
    labels = np.full((4, 64, 64), 255, np.uint8)
    for z in range(4):
        for line in (20 + z, 42 - z):
            labels[z, line : line + 2, :] = 0
            labels[z, :, line : line + 2] = 0
    image = _em_stack(255 - labels, seed=9)
    write_tiff_stack(image, out / "train-volume.tif")
    write_tiff_stack(labels, out / "train-labels.tif")


BUILDERS = {
    "chaos": build_chaos,
    "neurips22-cellseg": build_neurips22_cellseg,
    "han-seg": build_han_seg,
    "epfl-em": build_epfl_em,
    "sstem": build_sstem,
}
