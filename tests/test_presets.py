"""Presets (config/presets.yaml) and the switches they set: each difference between the paper,
its authors' code and MedSAM is one key, filled by the preset unless the config sets it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import ROOT, copy_workflow, snakemake

from cosmos_bench.catalog.presets import apply_preset, load_presets
from cosmos_bench.catalog.schema import coerce_scalars
from cosmos_bench.catalog.selection import resolve
from cosmos_bench.core.errors import ConfigError
from cosmos_bench.harmonize.normalize import clip_percentiles

DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_every_preset_sets_the_same_keys_and_validates() -> None:
    presets = load_presets(ROOT)
    assert {"paper", "cosmos-code", "medsam"} <= set(presets)
    paper = presets["paper"]
    for name, values in presets.items():
        assert values.keys() == paper.keys(), name
        assert all(values[s].keys() == paper[s].keys() for s in paper), name
        config = {**copy.deepcopy(DEMO), "preset": name}
        resolve(config, ROOT)  # the schema accepts every key the preset fills
        assert config["preset"] == name


def test_the_paper_preset_is_the_default_and_a_config_key_wins() -> None:
    config = copy.deepcopy(DEMO)
    del config["preset"]
    config["harmonize"]["clip_percentiles"] = [1, 99]
    resolve(config, ROOT)
    assert config["preset"] == "paper"
    assert config["harmonize"]["clip_percentiles"] == [1, 99]  # set by the config: kept
    assert config["harmonize"]["normalization"] == "paper"
    assert config["score"] == {"resolution": "native"}
    assert config["finetune"]["box_jitter"] == 0 and config["finetune"]["loss_resolution"] == "full"
    assert config["report"]["complexity"] == "paper"
    medsam = {**copy.deepcopy(DEMO), "preset": "medsam"}
    apply_preset(medsam, ROOT)
    assert medsam["harmonize"]["normalization"] == "medsam"
    assert medsam["finetune"]["box_jitter"] == 20


def test_an_unknown_preset_names_the_choices() -> None:
    choices = "(?s)unknown preset 'cosmos'.*paper, cosmos-code, medsam"
    with pytest.raises(ConfigError, match=choices):
        apply_preset({"preset": "cosmos"}, ROOT)


def test_numbers_given_as_text_are_read_where_the_schema_wants_numbers() -> None:
    """Snakemake hands the numbers inside `--config finetune={epochs: 3}` over as text."""
    config = {
        **copy.deepcopy(DEMO),
        "finetune": {"epochs": "3", "lr": "1e-4", "box_jitter": "20"},
        "harmonize": {"clip_percentiles": ["0.95", "99.5"], "max_side": "2048"},
        "robustness": {"ranges": [["0", "10"], ["10", "20"]], "repeats": "2"},
    }
    coerce_scalars(config, ROOT)
    assert config["finetune"] == {"epochs": 3, "lr": 1e-4, "box_jitter": 20}
    assert config["harmonize"] == {"clip_percentiles": [0.95, 99.5], "max_side": 2048}
    assert config["robustness"] == {"ranges": [[0, 10], [10, 20]], "repeats": 2}
    config["finetune"]["epochs"] = "three"  # left as text: validation names it
    coerce_scalars(config, ROOT)
    with pytest.raises(ConfigError, match="finetune/epochs"):
        resolve(config, ROOT)


def test_percentile_clipping_stretches_each_image_and_keeps_zeros() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(20, 200, (64, 64)).astype(np.uint8)
    image[:4] = 0
    image[10, 10], image[11, 11] = 255, 1  # outliers the 99.5th / 0.95th cut away
    out = clip_percentiles(image, (0.95, 99.5))
    lo, hi = np.percentile(image, (0.95, 99.5))
    assert out.dtype == np.uint8 and (out[:4] == 0).all()
    assert out[10, 10] == 255 and out.max() == 255
    inside = (image > lo) & (image < hi)
    expected = np.round((image[inside] - lo) / (hi - lo) * 255)
    assert np.abs(out[inside].astype(int) - expected).max() <= 1
    assert clip_percentiles(image, None) is image


@pytest.mark.e2e
def test_presets_reach_the_jobs_and_cosmos_code_runs_the_demo(tmp_path: Path) -> None:
    """The preset's keys become the jobs' options; the authors'-code preset runs the endoscopy
    demo end to end with a weight-free model (harmonize to report)."""
    work = copy_workflow(tmp_path)
    plan = snakemake(work, "--dry-run", "--printshellcmds", "--config", "preset=cosmos-code")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "--clip-percentiles 0.95 99.5" in plan.stdout  # harmonize and the volume store
    plan = snakemake(work, "--dry-run", "--printshellcmds")
    assert "--clip-percentiles" not in plan.stdout  # the paper: no clipping
    run = snakemake(
        work, "--config", "preset=cosmos-code", "datasets=[demo-endo]", "models=[otsu-box]"
    )
    assert run.returncode == 0, run.stderr[-5000:]
    assert (work / "results" / "report" / "index.html").exists()
    config = json.loads((work / "results" / "report" / "provenance.json").read_text())["config"]
    assert config["preset"] == "cosmos-code" and config["score"]["resolution"] == "native"
    assert config["harmonize"]["clip_percentiles"] == [0.95, 99.5]


def test_the_schema_and_the_library_agree_on_defaults_and_bounds() -> None:
    """A job run by hand (its argparse defaults) behaves as the workflow's defaults say."""
    from cosmos_bench.infer import everything
    from cosmos_bench.infer.clicks import N_CLICKS

    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"]
    assert props["clicks"]["properties"]["n_clicks"]["default"] == N_CLICKS
    grid = props["everything"]["properties"]["points_per_side"]
    assert grid["default"] == everything.Settings().points_per_side
    assert grid["maximum"] == everything.MAX_POINTS_PER_SIDE
    with pytest.raises(ConfigError, match="points_per_side"):
        everything.Settings(points_per_side=everything.MAX_POINTS_PER_SIDE + 1)
