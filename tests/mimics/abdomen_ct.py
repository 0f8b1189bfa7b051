"""Mimics of the abdomen and thorax CT cards (group A).

Each builder writes the card's source files in the release's real layout (folder and file names,
formats, label values, archive kinds), with a few tiny synthetic cases. Label maps come from
`grid`: up to four discs per slice, every value in one slice with about 250 pixels.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from mimics.write import discs, picture, tar_tree, write_2d, write_sitk, zip_tree

SPACING = (0.8, 0.8, 2.5)
APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(66)


def grid(values: Iterable[int], size: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(image int16, labels uint16) (z, y, x): four discs per slice, empty first/last slice."""
    values = list(values)
    labels = np.zeros((-(-len(values) // 4) + 2, size, size), np.uint16)
    yy, xx = np.mgrid[:size, :size]
    step = size // 2
    for k, v in enumerate(values):
        cy, cx = (step * q + step // 2 for q in divmod(k % 4, 2))
        labels[1 + k // 4][(yy - cy) ** 2 + (xx - cx) ** 2 <= (step // 2 - 3) ** 2] = v
    rng = np.random.default_rng(seed)
    image = rng.normal(40, 10, labels.shape) + 60.0 * (labels > 0)
    return image.astype(np.int16), labels


def pair(image_path: Path, label_path: Path, values: Iterable[int], seed: int = 0) -> None:
    """One NIfTI (or MetaImage) image and its label map."""
    image, labels = grid(values, seed=seed)
    write_sitk(image, image_path, SPACING)
    write_sitk(labels.astype(np.uint8), label_path, SPACING)


def image_only(path: Path, seed: int = 0) -> None:
    write_sitk(grid([1], seed=seed)[0], path, SPACING)


def kits_nifti(array_zyx: np.ndarray, path: Path) -> None:
    """KiTS orientation: data (slices, height, width), first axis inferior-superior."""
    affine = np.array([[0, 0, -0.78, 0], [0, -0.78, 0, 0], [-3.0, 0, 0, 0], [0, 0, 0, 1]])
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(array_zyx), affine), str(path))


def mhd(array: np.ndarray, path: Path, compress: bool = False) -> None:
    """A MetaImage header + .raw (or compressed .zraw) pair."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing([0.7, 0.7, 2.5])
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=compress)


def write_7z(src: Path, archive: Path) -> None:
    """A 7-Zip archive of a folder's contents (AbdomenCT-1K's Mask.7z); needs py7zr."""
    import py7zr

    for path in src.rglob("*"):
        os.utime(path, (1577836800, 1577836800))
    with py7zr.SevenZipFile(archive, "w") as zf:
        for path in sorted(src.rglob("*")):
            zf.write(path, path.relative_to(src).as_posix())


def build_abdomenct_1k(out: Path) -> None:
    """Image zips with a top folder each; Mask.7z with the masks as loose files."""
    tree = out / "_tree"
    for part, case in ((1, "Case_00001"), (2, "Case_00401"), (3, "Case_00801")):
        folder = tree / f"part{part}" / f"AbdomenCT-1K-ImagePart{part}"
        pair(folder / f"{case}_0000.nii.gz", tree / "mask" / f"{case}.nii.gz", [1, 2, 3, 4])
        zip_tree(tree / f"part{part}", out / f"AbdomenCT-1K-ImagePart{part}.zip")
    image_only(tree / "part3" / "AbdomenCT-1K-ImagePart3" / "Case_01050_0000.nii.gz")  # no mask
    zip_tree(tree / "part3", out / "AbdomenCT-1K-ImagePart3.zip")
    write_7z(tree / "mask", out / "Mask.7z")
    shutil.rmtree(tree)


def build_amos22(out: Path) -> None:
    root = out / "_tree" / "amos22"
    for split, ct, mr in (("Tr", "amos_0001", "amos_0507"), ("Va", "amos_0008", "amos_0540")):
        pair(root / f"images{split}/{ct}.nii.gz", root / f"labels{split}/{ct}.nii.gz", range(1, 16))
        pair(root / f"images{split}/{mr}.nii.gz", root / f"labels{split}/{mr}.nii.gz", range(1, 14))
    image_only(root / "imagesTs" / "amos_0500.nii.gz")
    (root / "dataset.json").write_text(json.dumps({"name": "AMOS", "labels": {"1": "spleen"}}))
    junk = out / "_tree" / "__MACOSX" / "amos22" / "imagesTr" / "._amos_0001.nii.gz"
    junk.parent.mkdir(parents=True)
    junk.write_bytes(APPLEDOUBLE)
    zip_tree(out / "_tree", out / "amos22.zip")
    shutil.rmtree(out / "_tree")


def build_chest_ct_segmentation(out: Path) -> None:
    """RGB JPEG masks, one class per channel: R trachea, G heart, B lungs (labels 1-3)."""
    tree, rows = out / "_tree", ["ImageId,MaskId"]
    patient = "ID00007637202177411956430"
    for n, values in ((0, [1, 2, 3]), (1, [1, 2])):
        labels = discs((64, 64), values)
        mask = np.stack([(labels == c + 1) * 255 for c in range(3)], axis=-1).astype(np.uint8)
        write_2d(picture(labels, seed=n), tree / "images" / "images" / f"{patient}_{n}.jpg")
        write_2d(mask, tree / "masks" / "masks" / f"{patient}_mask_{n}.jpg")
        rows.append(f"{patient}_{n}.jpg,{patient}_mask_{n}.jpg")
    (tree / "train.csv").write_text("\n".join(rows) + "\n")
    zip_tree(tree, out / "chest-ct-segmentation.zip")
    shutil.rmtree(tree)


def build_kipa22(out: Path) -> None:
    tree = out / "_tree"
    for case in ("0", "1"):
        pair(
            tree / "train/image" / f"{case}.nii.gz",
            tree / "train/label" / f"{case}.nii.gz",
            [1, 2, 3, 4],
        )
    zip_tree(tree, out / "kipa22_train.zip")
    shutil.rmtree(tree)


def _kits(out: Path, repo: str, data: str, n: int, seg: str, values: list[int]) -> None:
    """The GitHub archive (segmentations) plus one imaging file per case, as the card lists."""
    image, labels = grid(values)
    tree = out / "_tree"
    for i in range(n):
        kits_nifti(labels.astype(np.uint8), tree / repo / data / f"case_{i:05d}" / seg)
        kits_nifti(image, out / f"case_{i:05d}.nii.gz")
    (tree / repo / "README.md").write_text(f"# {repo}\n")
    zip_tree(tree, out / f"{repo}.zip")
    shutil.rmtree(tree)


KITS19_COMMIT = "456b293435b25303bbc7995f094f83a0afdff0eb"  # the cards' releases
KITS21_COMMIT = "389cc73d18e4287d0d287306f6d1db546544e0c3"


def build_kits19(out: Path) -> None:
    _kits(out, f"kits19-{KITS19_COMMIT}", "data", 210, "segmentation.nii.gz", [1, 2])


def build_kits21(out: Path) -> None:
    seg = "aggregated_MAJ_seg.nii.gz"
    _kits(out, f"kits21-{KITS21_COMMIT}", "kits21/data", 300, seg, [1, 2, 3])


def build_luna16(out: Path) -> None:
    tree = out / "_tree"
    for n in range(10):
        uid = f"1.3.6.1.4.1.14519.5.2.1.6279.6001.10{n}"
        image, labels = grid([3, 4, 5], seed=n)
        mhd(image, tree / f"subset{n}" / f"subset{n}" / f"{uid}.mhd")
        mhd(
            labels.astype(np.uint8), tree / "seg" / "seg-lungs-LUNA16" / f"{uid}.mhd", compress=True
        )
        zip_tree(tree / f"subset{n}", out / f"subset{n}.zip")
    zip_tree(tree / "seg", out / "seg-lungs-LUNA16.zip")
    shutil.rmtree(tree)


MSD_TASKS = {  # task: (case name, label values, channels of a 4D image or 0)
    "Task01_BrainTumour": ("BRATS_001", [1, 2, 3], 4),
    "Task02_Heart": ("la_003", [1], 0),
    "Task03_Liver": ("liver_0", [1, 2], 0),
    "Task04_Hippocampus": ("hippocampus_001", [1, 2], 0),
    "Task05_Prostate": ("prostate_00", [1, 2], 2),
    "Task06_Lung": ("lung_001", [1], 0),
    "Task07_Pancreas": ("pancreas_001", [1, 2], 0),
    "Task08_HepaticVessel": ("hepaticvessel_001", [1, 2], 0),
    "Task09_Spleen": ("spleen_2", [1], 0),
    "Task10_Colon": ("colon_001", [1], 0),
}


def build_msd(out: Path) -> None:
    for k, (task, (case, values, channels)) in enumerate(MSD_TASKS.items()):
        root = out / "_tree" / task
        image, labels = grid(values, seed=k)
        if channels:
            image = np.stack([image + 20 * c for c in range(channels)])
        write_sitk(image, root / "imagesTr" / f"{case}.nii.gz", SPACING)
        write_sitk(labels.astype(np.uint8), root / "labelsTr" / f"{case}.nii.gz", SPACING)
        for folder in ("imagesTr", "labelsTr"):
            (root / folder / f"._{case}.nii.gz").write_bytes(APPLEDOUBLE)
        write_sitk(image, root / "imagesTs" / f"{case[:-1]}9.nii.gz", SPACING)
        (root / "dataset.json").write_text(json.dumps({"name": task.split("_")[1]}))
        tar_tree(out / "_tree", out / f"{task}.tar")
        shutil.rmtree(out / "_tree")


def build_btcv(out: Path) -> None:
    raw = out / "_tree" / "RawData"
    for n in ("0001", "0002"):
        pair(
            raw / f"Training/img/img{n}.nii.gz",
            raw / f"Training/label/label{n}.nii.gz",
            range(1, 14),
        )
    image_only(raw / "Testing/img/img0061.nii.gz")
    zip_tree(out / "_tree", out / "RawData.zip")
    shutil.rmtree(out / "_tree")


def build_sliver07(out: Path) -> None:
    """training-scans.zip holds scan/, training-labels.zip label/ (masks MET_CHAR)."""
    tree = out / "_tree"
    for n in ("001", "002"):
        image, labels = grid([1], seed=int(n))
        mhd(image, tree / "scans" / "scan" / f"liver-orig{n}.mhd")
        mhd(labels.astype(np.int8), tree / "labels" / "label" / f"liver-seg{n}.mhd")
    zip_tree(tree / "scans", out / "training-scans.zip")
    zip_tree(tree / "labels", out / "training-labels.zip")
    shutil.rmtree(tree)


VERSE = {  # zip name: (top folder, [(subject folder, file prefix), ...])
    "dataset-verse19training": (
        "dataset-verse19training",
        [("sub-verse004", "sub-verse004"), ("sub-verse408", "sub-verse408_split-verse223")],
    ),
    "dataset-verse19validation": ("dataset-verse19validation", [("sub-verse153", "sub-verse153")]),
    "dataset-verse19test": ("dataset-verse19test", [("sub-verse012", "sub-verse012")]),
    "dataset-verse20training": ("dataset-01training", [("sub-gl003", "sub-gl003_dir-ax")]),
    "dataset-verse20validation": ("dataset-02validation", [("sub-verse635", "sub-verse635")]),
    "dataset-verse20test": ("dataset-03test", [("sub-gl195", "sub-gl195_dir-ax")]),
}


def build_verse(out: Path) -> None:
    all_values = [*range(1, 26), 28]
    for k, (name, (top, scans)) in enumerate(VERSE.items()):
        root = out / "_tree" / top
        for j, (subject, prefix) in enumerate(scans):
            values = all_values if k == j == 0 else [1 + k, 2 + k]
            pair(
                root / "rawdata" / subject / f"{prefix}_ct.nii.gz",
                root / "derivatives" / subject / f"{prefix}_seg-vert_msk.nii.gz",
                values,
                seed=k,
            )
            ctd = root / "derivatives" / subject / f"{prefix}_seg-subreg_ctd.json"
            ctd.write_text(json.dumps([{"direction": ["P", "I", "R"]}]))
        zip_tree(out / "_tree", out / f"{name}.zip")
        shutil.rmtree(out / "_tree")


def build_word(out: Path) -> None:
    """The (re-packed) data zip, and the GitHub test-label zip holding labelsTs/."""
    root = out / "_tree" / "WORD-V0.1.0"
    for split, case in (("Tr", "word_0001"), ("Val", "word_0101")):
        pair(
            root / f"images{split}/{case}.nii.gz",
            root / f"labels{split}/{case}.nii.gz",
            range(1, 17),
        )
    pair(
        root / "imagesTs" / "word_0014.nii.gz",
        out / "_ts" / "labelsTs" / "word_0014.nii.gz",
        range(1, 17),
    )
    zip_tree(out / "_tree", out / "WORD-V0.1.0.zip")
    zip_tree(out / "_ts", out / "WORD_V0.1.0_labelsTs.zip")
    shutil.rmtree(out / "_tree")
    shutil.rmtree(out / "_ts")


BUILDERS = {
    "abdomenct-1k": build_abdomenct_1k,
    "amos22": build_amos22,
    "chest-ct-segmentation": build_chest_ct_segmentation,
    "kipa22": build_kipa22,
    "kits19": build_kits19,
    "kits21": build_kits21,
    "luna16": build_luna16,
    "msd": build_msd,
    "btcv": build_btcv,
    "sliver07": build_sliver07,
    "verse": build_verse,
    "word": build_word,
}
