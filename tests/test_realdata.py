"""Acceptance on real CT lesions (../shared/realdata): LiteMedSAM with the tight box (S5)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import REALDATA, realdata_workflow, snakemake

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.realdata,
    pytest.mark.skipif(not (REALDATA / "medsam2-recist-ct").is_dir(), reason="no shared/realdata"),
]


def test_litemedsam_s5_on_real_ct_lesions(realct_run: Path) -> None:
    work = realct_run
    overall = pd.read_csv(work / "results" / "tables" / "overall.csv")
    dice = float(overall.loc[overall.model == "litemedsam", "dice_mask_weighted"].iloc[0])
    print(f"LiteMedSAM S5 mean Dice on medsam2-recist-ct: {dice:.4f} ({overall.n_masks[0]} masks)")
    assert dice >= 0.70
    manifest = (work / "results" / "downloads" / "medsam2-recist-ct" / "SHA256SUMS").read_text()
    assert len(manifest.splitlines()) == 6


def independent_mask_counts(folder: Path) -> dict[str, int]:
    """Masks per case straight from the label files: axial slices whose label 1 has > 50 px.

    Reads the native arrays with SimpleITK and nothing of cosmos_bench, so it checks the
    adapter, the reorientation, the slicing and the 50-pixel rule from outside.
    """
    import numpy as np
    import SimpleITK as sitk

    counts = {}
    for label_file in sorted(folder.glob("*_label.nrrd")):
        labels = sitk.ReadImage(str(label_file))
        direction = np.reshape(labels.GetDirection(), (3, 3))
        assert np.allclose(np.abs(direction), np.eye(3)), "expected an axial, unrotated grid"
        volume = sitk.GetArrayFromImage(labels)  # (z, y, x)
        per_slice = (volume == 1).reshape(volume.shape[0], -1).sum(axis=1)
        counts[label_file.name.removesuffix("_label.nrrd")] = int((per_slice > 50).sum())
    return counts


def test_pyradiomics_nrrd_harmonizes_to_the_independent_mask_count(tmp_path: Path) -> None:
    work = realdata_workflow(tmp_path, "pyradiomics-nrrd")
    run = snakemake(
        work,
        "results/harmonized/pyradiomics-nrrd/index.parquet",
        "--config",
        "datasets=[pyradiomics-nrrd]",
    )
    assert run.returncode == 0, run.stderr[-5000:]
    index = pd.read_parquet(work / "results" / "harmonized" / "pyradiomics-nrrd" / "index.parquet")
    expected = independent_mask_counts(REALDATA / "pyradiomics-nrrd")
    print(f"pyradiomics-nrrd masks per case: {expected}")
    assert index.groupby("case").size().to_dict() == expected
    assert set(index.target) == {"MR/lesion"}
    brain = index[index.case == "brain1"].iloc[0]
    assert (brain.spacing_y, brain.spacing_x) == pytest.approx((0.78125, 0.78125))
