"""Shared fixtures: a workflow folder with one tiny NIfTI dataset, and the end-to-end runs that
the e2e tests share (docs/testing.md says which test reads which run).

The shared runs are made once per session, when the first test that needs one asks for it.
Tests read them; a test that adds jobs works on its own copy (`helpers.copy_run`), so no test
sees another's changes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import (
    ROOT,
    TINY_CARD,
    check,
    copy_workflow,
    phantom,
    realdata_workflow,
    snakemake,
    write_volume,
)


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


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make demo`'s run (both demo datasets, every default model and strategy, the report):
    the one full demo of the suite, whose numbers the README quotes, and the reference that the
    kill and SLURM runs must equal (helpers.same_scores)."""
    work = copy_workflow(tmp_path_factory.mktemp("demo"))
    run = snakemake(work)
    check(run)
    (work / "console.txt").write_text(run.stdout + run.stderr)  # what the user saw
    return work


@pytest.fixture(scope="session")
def realct_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LiteMedSAM with the tight box (S5) through the workflow on the real CT lesions
    (../shared/realdata/medsam2-recist-ct): the acceptance run and the project's side of the
    comparison with LiteMedSAM's official inference."""
    work = realdata_workflow(tmp_path_factory.mktemp("realct"), "medsam2-recist-ct")
    check(snakemake(work, "--config", "datasets=[medsam2-recist-ct]", "models=[litemedsam]",
                    "strategies=[S5]"))  # fmt: skip
    return work
