"""Acceptance on real CT lesions (../shared/realdata): LiteMedSAM with the tight box (S5)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import REALDATA, copy_workflow, snakemake

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.realdata,
    pytest.mark.skipif(not (REALDATA / "medsam2-recist-ct").is_dir(), reason="no shared/realdata"),
]


def test_litemedsam_s5_on_real_ct_lesions(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    card = work / "config" / "datasets" / "medsam2-recist-ct.yaml"
    source = REALDATA / "medsam2-recist-ct"
    card.write_text(card.read_text().replace("../shared/realdata/medsam2-recist-ct", str(source)))
    run = snakemake(
        work,
        "--config",
        "datasets=[medsam2-recist-ct]",
        "models=[litemedsam]",
        "strategies=[S5]",
    )
    assert run.returncode == 0, run.stderr[-5000:]
    overall = pd.read_csv(work / "results" / "tables" / "overall.csv")
    dice = float(overall.loc[overall.model == "litemedsam", "dice_mask_weighted"].iloc[0])
    print(f"LiteMedSAM S5 mean Dice on medsam2-recist-ct: {dice:.4f} ({overall.n_masks[0]} masks)")
    assert dice >= 0.70
    manifest = (work / "results" / "downloads" / "medsam2-recist-ct" / "SHA256SUMS").read_text()
    assert len(manifest.splitlines()) == 6
