"""Mimics of group B: MRI datasets (NIfTI, 4D cine, Analyze, MetaImage, NRRD, DICOM series).

Each builder writes tiny volumes in the release's real folder layout, file names and formats;
labels are discs on a grid, one per label value, in every slice but the first and last along
the card's slicing axis, so every label survives the COSMOS 50-pixel filter.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np

from mimics.write import tar_tree, write_analyze, write_dicom_series, write_sitk, zip_tree

AXES = {"axial": 0, "coronal": 1, "sagittal": 2}


def grid(shape: tuple[int, int], values) -> np.ndarray:
    """A 2D label map with one disc per value on a square grid (no overlaps)."""
    values = list(values)
    k = math.ceil(math.sqrt(len(values)))
    h, w = shape
    ch, cw = h // k, w // k
    r = min(ch, cw) // 2 - 1
    yy, xx = np.mgrid[:h, :w]
    out = np.zeros(shape, np.uint16)
    for i, v in enumerate(values):
        cy, cx = (i // k) * ch + ch // 2, (i % k) * cw + cw // 2
        out[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = v
    return out


def blobs(values, shape=(6, 48, 48), axis="axial", seed=0) -> tuple[np.ndarray, np.ndarray]:
    """(image int16, labels uint16) in (z, y, x): a value grid in each inner slice along axis."""
    a = AXES[axis]
    labels = np.zeros(shape, np.uint16)
    plane = grid(tuple(s for i, s in enumerate(shape) if i != a), values)
    for k in range(1, shape[a] - 1):
        index = [slice(None)] * 3
        index[a] = k
        labels[tuple(index)] = plane
    rng = np.random.default_rng(seed)
    image = rng.normal(0, 10, shape)
    for i, v in enumerate(values):
        image[labels == v] += 100 + 30 * i
    return image.astype(np.int16), labels


def masks(structures, shape=(6, 48, 48), seed=0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """An image and one binary (uint8) mask per structure name."""
    names = list(structures)
    image, labels = blobs(range(1, len(names) + 1), shape, seed=seed)
    return image, {n: (labels == i + 1).astype(np.uint8) for i, n in enumerate(names)}


def archive(tree: Path, path: Path) -> None:
    """Zip or tar (by suffix) the tree, then remove it."""
    (tar_tree if path.name.endswith((".tar", ".tar.gz", ".tgz")) else zip_tree)(tree, path)
    shutil.rmtree(tree)


def build_acdc(out: Path) -> None:
    db = out / "_tree" / "ACDC" / "database"
    for split, patient, frames in (("training", 1, (1, 12)), ("testing", 101, (1, 14))):
        folder = db / split / f"patient{patient:03d}"
        (folder / "Info.cfg").parent.mkdir(parents=True, exist_ok=True)
        (folder / "Info.cfg").write_text(f"ED: {frames[0]}\nES: {frames[1]}\nNbFrame: 30\n")
        cine = []
        for f in frames:
            image, labels = blobs((1, 2, 3), seed=patient + f)
            write_sitk(image, folder / f"patient{patient:03d}_frame{f:02d}.nii.gz")
            write_sitk(
                labels.astype(np.uint8), folder / f"patient{patient:03d}_frame{f:02d}_gt.nii.gz"
            )
            cine.append(image)
        write_sitk(np.stack(cine), folder / f"patient{patient:03d}_4d.nii.gz")
    archive(out / "_tree", out / "ACDC.zip")


BRAINPTM_TRACTS = ("OR_left", "OR_right", "CST_left", "CST_right")


def build_brainptm_2021(out: Path) -> None:
    for case, tracts in (("case_1", BRAINPTM_TRACTS), ("case_2", BRAINPTM_TRACTS[:2])):
        image, tract_masks = masks(tracts, seed=len(tracts))
        data = out / "_tree" / "data" / case
        write_sitk(image, data / "T1.nii.gz")
        # the diffusion series: b=0 first, then gradient volumes (4D, t = 3 here)
        write_sitk(np.stack([image, image // 2, image // 3]), data / "Diffusion.nii.gz")
        (data / "Diffusion.bvals").write_text("0 1000 1000\n")
        (data / "Diffusion.bvecs").write_text("0 1 0\n0 0 1\n0 0 0\n")
        write_sitk((image > 50).astype(np.uint8), data / "brain_mask.nii.gz")
        for tract, mask in tract_masks.items():
            write_sitk(mask, out / "_tree" / "tracts" / case / f"{tract}.nii.gz")
    archive(out / "_tree" / "data", out / "sheba75_data_train.zip")
    archive(out / "_tree" / "tracts", out / "sheba75_tracts_train.zip")
    shutil.rmtree(out / "_tree")


def build_brats20(out: Path) -> None:
    root = out / "_tree" / "MICCAI_BraTS2020_TrainingData"
    for n in (1, 2):
        case = f"BraTS20_Training_{n:03d}"
        image, labels = blobs((1, 2, 4), seed=n)
        for k, seq in enumerate(("flair", "t1", "t1ce", "t2")):
            write_sitk((image + 10 * k).astype(np.int16), root / case / f"{case}_{seq}.nii.gz")
        write_sitk(labels.astype(np.uint8), root / case / f"{case}_seg.nii.gz")
    archive(out / "_tree", out / "MICCAI_BraTS2020_TrainingData.zip")


def build_crossmoda(out: Path) -> None:
    tree = out / "_tree"
    for n in (1, 2):
        image, labels = blobs((1, 2), seed=n)
        write_sitk(image, tree / "source_training" / f"crossmoda_{n}_ceT1.nii.gz")
        write_sitk(
            labels.astype(np.uint8), tree / "source_training" / f"crossmoda_{n}_Label.nii.gz"
        )
        write_sitk(image, tree / "target_training" / f"crossmoda_{105 + n}_hrT2.nii.gz")
    archive(tree, out / "crossmoda_training.zip")


def build_feta(out: Path) -> None:
    root = out / "_tree" / "feta_2.1"
    root.mkdir(parents=True)
    (root / "participants.tsv").write_text("participant_id\tPathology\tGestational age\n")
    for sub, rec in (("sub-001", "mial"), ("sub-041", "irtk")):
        image, labels = blobs(range(1, 8), shape=(6, 64, 64), seed=int(sub[-3:]))
        anat = root / sub / "anat"
        write_sitk(image, anat / f"{sub}_rec-{rec}_T2w.nii.gz")
        write_sitk(labels.astype(np.uint8), anat / f"{sub}_rec-{rec}_dseg.nii.gz")
        for kind in ("T2w", "dseg"):
            (anat / f"{sub}_rec-{rec}_{kind}.json").write_text("{}\n")
    archive(out / "_tree", out / "feta_2.1.zip")


I2CVB_GT = ("prostate", "pz", "cg", "cap")


def build_i2cvb(out: Path) -> None:
    for vendor, archive_name, case in (
        ("GE", "ge-1-5t.tar.gz", "Patient 387"),
        ("Siemens", "siemens-3t.tar.gz", "Patient 1036617"),
    ):
        folder = out / "_tree" / vendor / case
        image, gt = masks(I2CVB_GT, seed=len(case))
        names = [f"{k:04d}.dcm" for k in range(image.shape[0])]
        write_dicom_series(image, folder / "T2W", names)
        write_dicom_series(image // 2, folder / "DCE", names)
        for name, mask in gt.items():
            write_dicom_series(mask.astype(np.int16) * 255, folder / "GT" / name, names)
        archive(out / "_tree", out / archive_name)


def build_iseg_2019(out: Path) -> None:
    root = out / "_tree" / "iSeg-2019-Training"
    for n in (1, 2):
        image, labels = blobs((10, 150, 250), seed=n)
        write_analyze(image, root / f"subject-{n}-T1.hdr")
        write_analyze((image // 2).astype(np.int16), root / f"subject-{n}-T2.hdr")
        write_analyze(labels.astype(np.uint8), root / f"subject-{n}-label.hdr")
    archive(out / "_tree", out / "iSeg-2019-Training.zip")


def build_ixi(out: Path) -> None:
    """The image archives only: IXI has no labels (the card is unresolved)."""
    image, _ = blobs((1,), seed=26)
    subjects = ("IXI002-Guys-0828", "IXI012-HH-1211")
    for seq in ("T1", "T2", "PD", "MRA"):
        for subject in subjects:
            write_sitk(image, out / "_tree" / f"{subject}-{seq}.nii.gz")
        archive(out / "_tree", out / f"IXI-{seq}.tar")
    for subject in subjects:
        for k in range(17):
            write_sitk(image, out / "_tree" / f"{subject}-DTI-{k:02d}.nii.gz")
    archive(out / "_tree", out / "IXI-DTI.tar")


def build_livscar(out: Path) -> None:
    for group, case in (("human", "p1"), ("pig", "s1")):
        folder = out / "_tree" / group / case
        image, gt = masks(("myo", "scar"), seed=len(group))
        write_sitk(image, folder / "lge.nrrd")
        for name, mask in gt.items():
            write_sitk(mask, folder / f"{name}.nrrd")
    archive(out / "_tree", out / "4214622.zip")


def build_mnms(out: Path) -> None:
    """4D cine (t=4) with labels on the ED (t=0) and ES (t=2) frames only."""
    root = out / "_tree" / "OpenDataset"
    root.mkdir(parents=True)
    (root / "211230_M&Ms_Dataset_information_diagnosis_opendataset.csv").write_text(
        "External code,VendorName,Vendor,Centre,ED,ES\nA0S9V9,Siemens,A,1,0,2\n"
    )
    for n, split in enumerate(("Training/Labeled", "Validation", "Testing", "Training/Unlabeled")):
        subject = ("A0S9V9", "A5C2D2", "A1K2P5", "A0E2Q5")[n]
        image, labels = blobs((1, 2, 3), seed=n)
        cine = np.stack([image + 5 * t for t in range(4)]).astype(np.int16)
        gt = np.stack([labels if t in (0, 2) else 0 * labels for t in range(4)])
        write_sitk(cine, root / split / subject / f"{subject}_sa.nii.gz")
        if split != "Training/Unlabeled":
            write_sitk(gt.astype(np.uint8), root / split / subject / f"{subject}_sa_gt.nii.gz")
    archive(out / "_tree", out / "OpenDataset.zip")


def build_mrspineseg(out: Path) -> None:
    """Sagittal volumes: few slices along x (left-right), 19 structures per sagittal slice."""
    train = out / "_tree" / "train"
    for n in (1, 2):
        image, labels = blobs(range(1, 20), shape=(96, 96, 5), axis="sagittal", seed=n)
        write_sitk(image, train / "MR" / f"Case{n}.nii.gz")
        write_sitk(labels.astype(np.uint8), train / "Mask" / f"mask_case{n}.nii.gz")
    archive(out / "_tree", out / "MRI_train.zip")


def build_nci_isbi_2013(out: Path) -> None:
    """TCIA's label zip as published: Training/<case>.nrrd, with ProstateDx-01-0006's label
    under its real name ..._correctedLabels.nrrd (the card excludes that case)."""
    for collection, case, label in (
        ("Prostate-3T", "Prostate3T-01-0001", "Prostate3T-01-0001"),
        ("PROSTATE-DIAGNOSIS", "ProstateDx-01-0001", "ProstateDx-01-0001"),
        ("PROSTATE-DIAGNOSIS", "ProstateDx-01-0006", "ProstateDx-01-0006_correctedLabels"),
    ):
        image, labels = blobs((1, 2), seed=len(collection))
        series = (
            out / "_img" / collection / case / "1.3.6.1.4.1.9328.50.4.1" / "1.3.6.1.4.1.9328.50.4.2"
        )
        write_dicom_series(image, series, [f"1-{k + 1:02d}.dcm" for k in range(image.shape[0])])
        write_sitk(labels.astype(np.uint8), out / "_lab" / "Training" / f"{label}.nrrd")
    archive(out / "_img", out / "NCI-ISBI-2013-training-images.zip")
    archive(out / "_lab", out / "NCI-ISBI-2013-Prostate-Challenge-Training.zip")


def build_promise12(out: Path) -> None:
    for n in (0, 1):
        image, labels = blobs((1,), seed=n)
        write_sitk(image, out / "_tree" / f"Case{n:02d}.mhd")
        write_sitk(labels.astype(np.uint8), out / "_tree" / f"Case{n:02d}_segmentation.mhd")
    (out / "_tree" / "LICENSE.TXT").write_text("mimic\n")
    archive(out / "_tree", out / "training_data.zip")


QUBIQ_TASKS = {  # task folder: (2D?, case folders, number of tasks, raters)
    "brain-growth": (True, ("Training/case01", "Training/case02"), 1, 7),
    "kidney": (True, ("Training/case01",), 1, 3),
    "prostate": (True, ("Training/case01",), 2, 6),
    "pancreas": (False, ("case1-1", "case1-2"), 1, 2),
    "pancreatic-lesion": (False, ("case1-1",), 1, 2),
    "brain-tumor": (True, ("Training/case01",), 3, 3),
}


def build_qubiq_2021(out: Path) -> None:
    root = out / "_tree" / "training_data_v3_QC"
    for task, (flat, cases, n_tasks, raters) in QUBIQ_TASKS.items():
        for c, case in enumerate(cases):
            image, labels = blobs(range(1, n_tasks + 1), shape=(6, 48, 48), seed=c)
            if flat:  # one 2D slice per case; brain-tumor holds its four sequences in one file
                image, labels = image[2], labels[2]
                image = np.stack([image] * 4) if task == "brain-tumor" else image
            write_sitk(image, root / task / case / "image.nii.gz")
            for t in range(1, n_tasks + 1):
                for r in range(1, raters + 1):
                    mask = (labels == t).astype(np.uint8)
                    write_sitk(mask, root / task / case / f"task{t:02d}_seg{r:02d}.nii.gz")
    archive(out / "_tree", out / "training_data_v3_QC.zip")


def build_ski10(out: Path) -> None:
    """The Hugging Face NIfTI copy (YongchengYAO/SKI10): SKI10/image/, SKI10/label/."""
    for n in (1, 2):
        image, labels = blobs((1, 2, 3, 4), seed=n)
        root = out / "_tree" / "SKI10"
        write_sitk(image, root / "image" / f"image-{n:03d}.nii")
        write_sitk(labels.astype(np.uint8), root / "label" / f"labels-{n:03d}.nii")
    archive(out / "_tree", out / "SKI10.zip")


BUILDERS = {
    "acdc": build_acdc,
    "brainptm-2021": build_brainptm_2021,
    "brats20": build_brats20,
    "crossmoda": build_crossmoda,
    "feta": build_feta,
    "i2cvb": build_i2cvb,
    "iseg-2019": build_iseg_2019,
    "ixi": build_ixi,
    "livscar": build_livscar,
    "mnms": build_mnms,
    "mrspineseg": build_mrspineseg,
    "nci-isbi-2013": build_nci_isbi_2013,
    "promise12": build_promise12,
    "qubiq-2021": build_qubiq_2021,
    "ski10": build_ski10,
}
