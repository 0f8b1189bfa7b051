"""Models of your own (docs/own-model.md): a models file and plug-in classes outside the
repository, checked before any job, evaluated through the whole workflow on the demo."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import ROOT, check, copy_run, copy_workflow, snakemake, user_env

from cosmos_bench.catalog.zoo import load_models, own_model_files
from cosmos_bench.core.errors import ConfigError

EXAMPLE = ROOT / "examples" / "own_model"


def _plugin_check(models_file: Path, *models: str) -> str:
    """`python -m cosmos_bench.models.plugins MODEL...` in this process: its exit status and
    what it printed (the error with its file and fix, as run_cli prints it)."""
    from cosmos_bench.models.plugins import main

    try:
        main([*models, "--root", str(ROOT), "--models-file", str(models_file)])
    except ConfigError as err:
        return f"1\n{err}"
    return "0\n"


def test_a_models_file_merges_over_the_zoo_and_a_clash_names_both_files(tmp_path: Path) -> None:
    zoo = load_models(ROOT, [EXAMPLE / "models.yaml"])
    assert {"litemedsam", "chan-vese-box", "flood-point"} <= set(zoo)
    # each own model's jobs are handed its file alone, named as the config names it
    named = "examples/own_model/models.yaml"
    assert own_model_files(ROOT, [named]) == {"chan-vese-box": named, "flood-point": named}
    clash = tmp_path / "clash.yaml"
    clash.write_text("litemedsam: {adapter: my_pkg:Model, prompts: [box]}\n")
    with pytest.raises(ConfigError, match="defined in both") as err:
        load_models(ROOT, [clash])
    assert str(clash) in str(err.value) and "config/models.yaml" in str(err.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text("mine: {adapter: my_pkg:Model, prompts: [box, sketch]}\n")
    with pytest.raises(ConfigError, match="prompt kinds"):
        load_models(ROOT, [bad])


def test_broken_plugins_name_the_entry_the_file_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    monkeypatch.syspath_prepend(str(folder))  # as PYTHONPATH would
    for module in ("cosmos_own_model", "not_a_model"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    out = _plugin_check(models, "missing")
    assert out.startswith("1") and "cannot import 'nowhere_pkg.models'" in out
    assert str(models) in out and "PYTHONPATH" in out and "pip install" in out
    out = _plugin_check(models, "wrong-base")
    assert "Thing is not a cosmos_bench.PromptableModel" in out and "subclass" in out
    out = _plugin_check(models, "no-class")
    assert "has no class 'ChanVese'" in out and "ChanVeseBox" in out
    out = _plugin_check(models, "too-many-kinds")
    assert "lists prompts ['point']" in out and "ChanVeseBox.accepts" in out
    assert _plugin_check(models, "fine").startswith("0")


def test_a_broken_plugin_stops_the_workflow_before_any_job(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    models = tmp_path / "mine.yaml"
    models.write_text("mine: {adapter: nowhere_pkg.models:Net, prompts: [box]}\n")
    run = snakemake(work, "-n", "--config", f"models_file={models}", "models=[mine]")
    assert run.returncode != 0
    assert "cannot import 'nowhere_pkg.models'" in run.stderr and str(models) in run.stderr
    assert "Job stats" not in run.stdout + run.stderr


@pytest.fixture(scope="module")
def own_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's endoscopy set with the example's box model by `module:Class` from a folder on
    PYTHONPATH and its point model by the entry point of the installed example package, both
    outside the repository: only their jobs (and the report) are new. The shared demo run is
    asked for here, not as an argument, so the module queues behind the SLURM and real-data
    ones instead of idling while the demo is made (tests/conftest.py)."""
    demo_run = request.getfixturevalue("demo_run")
    tmp = tmp_path_factory.mktemp("own")
    folder = shutil.copytree(EXAMPLE, tmp / "outside" / "own_model")
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(folder)],
                   check=True, capture_output=True)  # fmt: skip
    models = tmp / "outside" / "lab-models.yaml"
    models.write_text(
        "chan-vese-box: {adapter: 'cosmos_own_model:ChanVeseBox', prompts: [box]}\n"
        "flood-point: {adapter: flood, prompts: [point], options: {tolerance: 24}}\n"
    )
    work = copy_run(demo_run, tmp / "demo")
    env = {"PYTHONPATH": f"{folder}:{site}"}
    models_list = "models=[litemedsam,otsu-box,grabcut,chan-vese-box,flood-point]"
    check(snakemake(work, "--config", f"models_file={models}", models_list, "datasets=[demo-endo]",
                    env=env))  # fmt: skip
    return work


@pytest.mark.e2e
def test_own_models_from_outside_the_repository_run_on_the_demo(own_run: Path) -> None:
    """Both stand beside the zoo in the tables and the report; the zoo's models kept their
    results (adding a models file reruns none of their jobs)."""
    log = max((own_run / ".snakemake" / "log").glob("*.snakemake.log")).read_text()
    assert set(re.findall(r"model=([^,\s]+)", log)) == {"chan-vese-box", "flood-point"}
    table = pd.read_csv(own_run / "results" / "tables" / "by_target.csv")
    rows = table[table.model.isin(["chan-vese-box", "flood-point"])]
    assert set(rows.model) == {"chan-vese-box", "flood-point"}
    assert set(rows[rows.model == "chan-vese-box"].strategy) == {"S5"}
    assert set(rows[rows.model == "flood-point"].strategy) == {"S2"}
    assert rows.mean_dice.between(0, 1).all() and (rows.mean_dice > 0).any()
    html = (own_run / "results" / "report" / "index.html").read_text()
    assert "chan-vese-box" in html and "flood-point" in html and "litemedsam" in html


def cosmos_bench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The venv's `cosmos-bench`, as the README names it."""
    return subprocess.run([str(Path(sys.executable).parent / "cosmos-bench"), *args], cwd=cwd,
                          capture_output=True, text=True, env=user_env())  # fmt: skip


@pytest.mark.e2e
def test_runs_export_compare_and_rank(own_run: Path, tmp_path: Path,
                                      request: pytest.FixtureRequest) -> None:  # fmt: skip
    """export -> compare round-trips; the zoo against the example model on the same masks;
    another preset refused unless allowed; a leaderboard of the zoo, the example model and a
    second seed renders in Chromium without an error."""
    from browser import render

    demo_run = request.getfixturevalue("demo_run")  # made by now: own_run asked for it
    # a run needs its record and scores to be compared (its report is not needed)
    record = ["results/report/provenance.json", "results/scores/otsu-box/demo-endo.parquet"]
    seed = copy_run(demo_run, tmp_path / "seed1")
    check(snakemake(seed, *record, "--config", "seed=1", "datasets=[demo-endo]",
                    "models=[otsu-box]"))  # fmt: skip
    preset = copy_run(demo_run, tmp_path / "cosmos-code")
    check(snakemake(preset, *record, "--config", "preset=cosmos-code", "datasets=[demo-endo]",
                    "models=[otsu-box]"))  # fmt: skip
    bundles = {}
    for name, folder in (("zoo", demo_run), ("own", own_run), ("seed1", seed),
                         ("cosmos-code", preset)):  # fmt: skip
        out = cosmos_bench("export", str(folder), "--out", f"{name}.zip", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        bundles[name] = tmp_path / f"{name}.zip"
    # the bundle is the run: comparing a folder with its own bundle gives zeros
    same = cosmos_bench("compare", str(own_run), "own.zip", "--out", "same.csv", cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    table = pd.read_csv(tmp_path / "same.csv")
    assert len(table) and (table.dice_difference == 0).all() and (table.nsd_difference == 0).all()
    # the zoo's LiteMedSAM against the example's box model, S5 on the same masks
    crossed = cosmos_bench("compare", "zoo.zip", "own.zip", "--models", "litemedsam",
                           "chan-vese-box", "--out", "crossed.csv", cwd=tmp_path)  # fmt: skip
    assert crossed.returncode == 0, crossed.stderr
    assert "litemedsam vs chan-vese-box S5" in crossed.stdout
    rows = pd.read_csv(tmp_path / "crossed.csv")
    pooled = rows[rows.target == "all"].iloc[0]
    scored = pd.read_parquet(demo_run / "results" / "scores" / "litemedsam" / "demo-endo.parquet")
    assert pooled.n_masks == scored[scored.strategy == "S5"].mask_id.nunique()  # the endoscopy
    assert pooled.dice_ci_low <= pooled.dice_difference <= (
        pooled.dice_ci_high)
    # another preset: not the same benchmark
    refused = cosmos_bench("compare", "zoo.zip", "cosmos-code.zip", cwd=tmp_path)
    assert refused.returncode == 1 and "not the same benchmark" in refused.stderr
    assert "preset: 'paper' in zoo, 'cosmos-code' in cosmos-code" in refused.stderr
    allowed = cosmos_bench("compare", "zoo.zip", "cosmos-code.zip", "--allow-different-settings",
                           "--out", "allowed.csv", cwd=tmp_path)  # fmt: skip
    assert allowed.returncode == 0 and "WARNING: settings differ" in allowed.stderr
    board = cosmos_bench("leaderboard", "zoo.zip", "own.zip", "seed1.zip", "--out",
                         "board.html", cwd=tmp_path)  # fmt: skip
    assert board.returncode == 0, board.stderr
    page = (tmp_path / "board.html").read_text()
    assert page.count("<section") == 1  # one benchmark: the seed is not a setting
    for model in ("litemedsam", "chan-vese-box", "flood-point", "otsu-box"):
        assert f"<td>{model}</td>" in page
    shown = render(tmp_path / "board.html", tmp_path / "board.png")
    assert shown.console_errors == [] and shown.broken_images == []
    assert "group-1" in shown.ids
