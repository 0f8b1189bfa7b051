"""Shared fixtures: a workflow folder with one tiny NIfTI dataset."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import ROOT, TINY_CARD, phantom, write_volume


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    """A workflow folder with the real ontology, models and schemas and one tiny NIfTI card."""
    for sub in ("resources", "config", "workflow/schemas"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    image, labels = phantom()
    raw = tmp_path / "raw"
    write_volume(image, raw / "imagesTr" / "c1_0000.nii.gz", (0.8, 0.8, 3.0))
    write_volume(labels, raw / "labelsTr" / "c1.nii.gz", (0.8, 0.8, 3.0))
    (tmp_path / "config" / "datasets" / "tiny.yaml").write_text(TINY_CARD)
    return tmp_path
