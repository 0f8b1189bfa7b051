"""Mimic of the TotalSegmentator card: the CT v2.0.1 zip (subject folders at its top, no top
folder) and the MRI v3.0.0 zip (everything under Totalsegmentator_dataset_v300/), as torch_em's
loaders read them. Each subject sNNNN holds its image (ct.nii.gz or mri.nii.gz) and one binary
NIfTI per structure in segmentations/, for every structure of the release (empty where absent);
meta.csv (semicolon-separated, image_id and split) lies beside the subjects.

The structure names are read from the card's parts, whose lists tests/test_mimics.py checks
against TotalSegmentator's class maps `total` (117) and `total_mr` (50)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from mimics.abdomen_ct import SPACING, grid
from mimics.write import write_sitk, zip_tree

CARD = Path(__file__).parents[2] / "config" / "datasets" / "totalsegmentator.yaml"


def _subjects(root: Path, names: list[str], image_name: str, splits: list[str]) -> None:
    """One subject per split; every subject has every structure file, each structure is
    non-empty in exactly one subject."""
    n = len(splits)
    for c in range(n):
        subject = root / f"s{c:04d}"
        image, labels = grid([k + 1 for k in range(c, len(names), n)], seed=c)
        write_sitk(image, subject / image_name, SPACING)
        for k, name in enumerate(names):
            mask = (labels == k + 1).astype(np.uint8)
            write_sitk(mask, subject / "segmentations" / f"{name}.nii.gz", SPACING)
    rows = "".join(f"s{c:04d};{split}\n" for c, split in enumerate(splits))
    (root / "meta.csv").write_text("image_id;split\n" + rows)


def build_totalsegmentator(out: Path) -> None:
    import yaml

    parts = {p["name"]: p for p in yaml.safe_load(CARD.read_text())["parts"]}
    ct = out / "_ct"  # v2.0.1: no top folder
    _subjects(ct, list(parts["ct"]["structures"]), "ct.nii.gz", ["train", "val", "test"])
    zip_tree(ct, out / "Totalsegmentator_dataset_v201.zip")
    mr = out / "_mr"  # MRI v3.0.0: one top folder; train/test only
    _subjects(
        mr / "Totalsegmentator_dataset_v300",
        list(parts["mr"]["structures"]),
        "mri.nii.gz",
        ["train", "test"],
    )
    zip_tree(mr, out / "TotalsegmentatorMRI_dataset_v300.zip")
    shutil.rmtree(ct)
    shutil.rmtree(mr)


BUILDERS = {"totalsegmentator": build_totalsegmentator}
