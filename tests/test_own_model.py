"""Models of your own (docs/own-model.md): a models file and plug-in classes outside the
repository, checked before any job, evaluated through the whole workflow on the demo."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import ROOT, check, copy_run, copy_workflow, snakemake, user_env

from cosmos_bench.catalog.zoo import load_models
from cosmos_bench.core.errors import ConfigError

EXAMPLE = ROOT / "examples" / "own_model"


def _plugin_check(models_file: Path, *models: str, path: str = "") -> str:
    run = subprocess.run(
        [sys.executable, "-m", "cosmos_bench.models.plugins", *models, "--root", str(ROOT),
         "--models-file", str(models_file)],
        capture_output=True, text=True, env=user_env({"PYTHONPATH": path}),
    )  # fmt: skip
    return f"{run.returncode}\n{run.stderr}"


def test_a_models_file_merges_over_the_zoo_and_a_clash_names_both_files(tmp_path: Path) -> None:
    zoo = load_models(ROOT, [EXAMPLE / "models.yaml"])
    assert {"litemedsam", "chan-vese-box", "flood-point"} <= set(zoo)
    clash = tmp_path / "clash.yaml"
    clash.write_text("litemedsam: {adapter: my_pkg:Model, prompts: [box]}\n")
    with pytest.raises(ConfigError, match="defined in both") as err:
        load_models(ROOT, [clash])
    assert str(clash) in str(err.value) and "config/models.yaml" in str(err.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text("mine: {adapter: my_pkg:Model, prompts: [box, sketch]}\n")
    with pytest.raises(ConfigError, match="prompt kinds"):
        load_models(ROOT, [bad])


def test_broken_plugins_name_the_entry_the_file_and_the_fix(tmp_path: Path) -> None:
    folder = shutil.copytree(EXAMPLE, tmp_path / "mine")
    (folder / "not_a_model.py").write_text("class Thing:\n    accepts = {'box'}\n")
    models = folder / "broken.yaml"
    models.write_text(
        "missing: {adapter: nowhere_pkg.models:Net, prompts: [box]}\n"
        "wrong-base: {adapter: not_a_model:Thing, prompts: [box]}\n"
        "no-class: {adapter: 'cosmos_own_model:ChanVese', prompts: [box]}\n"
        "too-many-kinds: {adapter: 'cosmos_own_model:ChanVeseBox', prompts: [box, point]}\n"
        "fine: {adapter: 'cosmos_own_model:FloodPoint', prompts: [point]}\n"
    )
    where = str(folder)
    out = _plugin_check(models, "missing", path=where)
    assert out.startswith("1") and "cannot import 'nowhere_pkg.models'" in out
    assert str(models) in out and "PYTHONPATH" in out and "pip install" in out
    out = _plugin_check(models, "wrong-base", path=where)
    assert "Thing is not a cosmos_bench.PromptableModel" in out and "subclass" in out
    out = _plugin_check(models, "no-class", path=where)
    assert "has no class 'ChanVese'" in out and "ChanVeseBox" in out
    out = _plugin_check(models, "too-many-kinds", path=where)
    assert "lists prompts ['point']" in out and "ChanVeseBox.accepts" in out
    assert _plugin_check(models, "fine", path=where).startswith("0")


def test_a_broken_plugin_stops_the_workflow_before_any_job(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    models = tmp_path / "mine.yaml"
    models.write_text("mine: {adapter: nowhere_pkg.models:Net, prompts: [box]}\n")
    run = snakemake(work, "-n", "--config", f"models_file={models}", "models=[mine]")
    assert run.returncode != 0
    assert "cannot import 'nowhere_pkg.models'" in run.stderr and str(models) in run.stderr
    assert "Job stats" not in run.stdout + run.stderr


@pytest.mark.e2e
def test_own_models_from_outside_the_repository_run_on_the_demo(
    demo_run: Path, tmp_path: Path
) -> None:
    """The example's box model by `module:Class` from a folder on PYTHONPATH, its point model
    by the entry point of the installed example package: both run through the workflow on the
    demo and stand beside the zoo in the tables and the report."""
    folder = shutil.copytree(EXAMPLE, tmp_path / "outside" / "own_model")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(folder)],
                   check=True, capture_output=True)  # fmt: skip
    models = tmp_path / "outside" / "lab-models.yaml"
    models.write_text(
        "chan-vese-box: {adapter: 'cosmos_own_model:ChanVeseBox', prompts: [box]}\n"
        "flood-point: {adapter: flood, prompts: [point], options: {tolerance: 24}}\n"
    )
    work = copy_run(demo_run, tmp_path / "demo")
    env = {"PYTHONPATH": f"{folder}:{site}"}
    models_list = "models=[litemedsam,otsu-box,grabcut,chan-vese-box,flood-point]"
    check(snakemake(work, "--config", f"models_file={models}", models_list, env=env))
    table = pd.read_csv(work / "results" / "tables" / "by_target.csv")
    rows = table[table.model.isin(["chan-vese-box", "flood-point"])]
    assert set(rows.model) == {"chan-vese-box", "flood-point"}
    assert set(rows[rows.model == "chan-vese-box"].strategy) == {"S5"}
    assert set(rows[rows.model == "flood-point"].strategy) == {"S2"}
    assert rows.mean_dice.between(0, 1).all() and (rows.mean_dice > 0).any()
    html = (work / "results" / "report" / "index.html").read_text()
    assert "chan-vese-box" in html and "flood-point" in html and "litemedsam" in html
