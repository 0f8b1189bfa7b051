"""Mimic of the TotalSegmentator card: one folder per subject with ct.nii.gz and one binary
NIfTI per structure in segmentations/, meta.csv beside the folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from mimics.abdomen_ct import SPACING, grid
from mimics.write import write_sitk, zip_tree


def build_totalsegmentator(out: Path) -> None:
    """Three cases; every case has all 104 files, each structure non-empty in one case."""
    import yaml

    card = Path(__file__).parents[2] / "config" / "datasets" / "totalsegmentator.yaml"
    names = list(yaml.safe_load(card.read_text())["structures"])
    root = out / "_tree" / "Totalsegmentator_dataset"
    for c in range(3):
        mine = list(range(c, len(names), 3))
        image, labels = grid([k + 1 for k in mine], seed=c)
        write_sitk(image, root / f"s{c:04d}" / "ct.nii.gz", SPACING)
        for k, name in enumerate(names):
            mask = (labels == k + 1).astype(np.uint8)
            write_sitk(mask, root / f"s{c:04d}" / "segmentations" / f"{name}.nii.gz", SPACING)
    (root / "meta.csv").write_text("image_id;age;gender\ns0000;60;m\ns0001;55;f\ns0002;70;m\n")
    zip_tree(out / "_tree", out / "Totalsegmentator_dataset.zip")
    shutil.rmtree(out / "_tree")


BUILDERS = {"totalsegmentator": build_totalsegmentator}
