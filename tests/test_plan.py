"""Planning is light: parsing the workflow loads neither torch nor matplotlib, so a dry run of
the full catalog stays a few seconds and a few hundred MB, and every job's own parse too."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import copy_workflow

pytestmark = pytest.mark.e2e  # the real snakemake CLI, a few seconds per plan

#: top-level packages the workflow's parse must not import; the jobs import what they need
HEAVY = ("torch", "torchvision", "matplotlib", "sam2", "segment_anything", "scipy", "skimage",
         "sam3", "nnInteractive", "nnunetv2")  # fmt: skip

#: runs snakemake's CLI in-process and prints, at exit, the heavy packages it left loaded
PROBE = """
import atexit, json, sys
heavy = {heavy!r}
atexit.register(lambda: print("LOADED " + json.dumps(
    sorted({{name.split(".")[0] for name in sys.modules}} & set(heavy)))))
from snakemake.cli import main
main({args!r})
"""


def _loaded_after(work, *args: str, output: list[str] | None = None) -> list[str]:
    """The heavy packages a parse with `args` left loaded; its stdout goes to `output`."""
    probe = PROBE.format(heavy=HEAVY, args=["--cores", "1", *args])
    run = subprocess.run([sys.executable, "-c", probe], cwd=work, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    if output is not None:
        output.append(run.stdout)
    line = next(x for x in run.stdout.splitlines() if x.startswith("LOADED "))
    return json.loads(line.removeprefix("LOADED "))


def test_a_dry_run_of_the_full_catalog_imports_no_torch_nor_matplotlib(tmp_path) -> None:
    work = copy_workflow(tmp_path)
    assert _loaded_after(work, "-n", "--quiet", "--configfile", "config/cosmos.yaml") == []


def test_a_dry_run_of_every_study_imports_no_torch_nor_matplotlib(tmp_path) -> None:
    """The studies' rules (fine-tuning, 3D, clicks, jitter) parse light too."""
    work = copy_workflow(tmp_path)
    configs = ("config/studies.yaml", "config/finetune.yaml", "config/propagation.yaml")
    assert _loaded_after(work, "-n", "--quiet", "--configfile", *configs) == []


def test_the_modern_zoo_plans_sam3_with_text_and_nninteractive_with_its_folder(tmp_path) -> None:
    """`snakemake -n --configfile config/cosmos-zoo.yaml`: the shipped plug-ins pass the parse's
    check, SAM 3's gated file and nnInteractive's model folder are planned, nothing heavy loads."""
    work = copy_workflow(tmp_path)
    output: list[str] = []
    assert _loaded_after(work, "-n", "--configfile", "config/cosmos-zoo.yaml",
                         output=output) == []  # fmt: skip
    assert "output: results/weights/sam3.pth" in output[0]
    assert "output: results/weights/nninteractive.d" in output[0]
    assert "results/scores/sam3/totalsegmentator.parquet" in output[0]
