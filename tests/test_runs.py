"""Runs you can compare, share and rank (cosmos_bench.runs) on hand-made score tables: the
paired deltas against their definition, the settings refusal, the bundle round trip and the
leaderboard's groups and ranks."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cosmos_bench.contracts import SCORE_SCHEMA
from cosmos_bench.core.errors import CosmosError
from cosmos_bench.report.tables.stats import case_bootstrap_ci, group_seed
from cosmos_bench.runs.bundle import export
from cosmos_bench.runs.compare import check_settings, compare
from cosmos_bench.runs.leaderboard import leaderboard, standings
from cosmos_bench.runs.record import RECORD, Run, load_run

RECORD_OF = {
    "config": {"preset": "paper", "seed": 0, "models": ["m"], "datasets": ["d"],
               "harmonize": {"normalization": "paper"},
               "score": {"resolution": "native"}, "report": {"nsd": "contour"},
               "infer": {"points": "paper"}},
    "card_sha256": {"d": "a" * 64},
}  # fmt: skip


def scores(model: str, dice: list[float], nsd_shift: float = 0.0) -> pd.DataFrame:
    """S5 rows of `model` on masks m0..mN of cases c0, c0, c1, c1, ... of dataset d."""
    rows = []
    for k, d in enumerate(dice):
        row = {name: 0 for name in SCORE_SCHEMA.names}
        row |= {"mask_id": f"d/c{k // 2}/z{k}#1", "uid": f"d/c{k // 2}/z{k}", "dataset": "d",
                "cohort": "", "case": f"c{k // 2}", "split": "test", "modality": "CT",
                "object": "liver" if k % 3 else "lesion", "model": model, "strategy": "S5",
                "selection": "single", "dice": d, "iou": d / (2 - d),
                "nsd": min(1.0, d + nsd_shift), "nsd_medsam": 1.0,
                "empty_prediction": False}  # fmt: skip
        row["target"] = f"CT/{row['object']}"
        rows.append(row)
    return pd.DataFrame(rows)


def run(name: str, *models: tuple[str, list[float]], record: dict | None = None) -> Run:
    frame = pd.concat([scores(m, d) for m, d in models], ignore_index=True)
    return Run(name, copy.deepcopy(record or RECORD_OF), frame)


def test_compare_is_the_paired_mean_difference_with_the_reports_case_bootstrap() -> None:
    a = run("a", ("m", [0.9, 0.8, 0.7, 0.6, 0.9, 0.5]))
    b = run("b", ("m", [0.8, 0.8, 0.6, 0.7, 0.5, 0.5, 0.9]))  # one mask more: not paired
    table = compare(a, b, n_boot=500)
    pooled = table[table.target == "all"].iloc[0]
    diff = np.array([0.1, 0.0, 0.1, -0.1, 0.4, 0.0])
    assert pooled.n_masks == 6 and pooled.n_cases == 3
    assert pooled.dice_difference == pytest.approx(diff.mean())
    low, high = case_bootstrap_ci(diff, np.array(["d//c0", "d//c0", "d//c1", "d//c1", "d//c2",
                                                   "d//c2"]),  # fmt: skip
                                  group_seed(0, ("compare", "dice", "m", "m", "S5", "single",
                                                 "all")), 500)  # fmt: skip
    assert (pooled.dice_ci_low, pooled.dice_ci_high) == pytest.approx((low, high))
    assert set(table.target) == {"all", "CT/liver", "CT/lesion"}
    assert table[table.target != "all"].n_masks.sum() == 6
    assert pooled.nsd_convention == "contour"
    # another model of the other run, by name
    other = run("c", ("x", [0.5] * 6))
    crossed = compare(a, other, models=("m", "x"), n_boot=100)
    assert crossed[crossed.target == "all"].iloc[0].dice_difference == pytest.approx(
        np.mean([0.9, 0.8, 0.7, 0.6, 0.9, 0.5]) - 0.5)
    with pytest.raises(CosmosError, match="no scores of model 'y'"):
        compare(a, other, models=("m", "y"))


def test_runs_with_other_benchmark_settings_are_refused_unless_allowed() -> None:
    a = run("a", ("m", [0.9, 0.8]))
    record = copy.deepcopy(RECORD_OF)
    record["config"]["preset"] = "cosmos-code"
    record["card_sha256"]["d"] = "b" * 64
    b = run("b", ("m", [0.9, 0.8]), record=record)
    with pytest.raises(CosmosError, match="not the same benchmark") as err:
        check_settings(a, b, allow=False)
    assert "preset: 'paper' in a, 'cosmos-code' in b" in str(err.value)
    assert "card d" in str(err.value) and "--allow-different-settings" in err.value.fix
    assert len(check_settings(a, b, allow=True)) == 2
    seeded = copy.deepcopy(RECORD_OF)
    seeded["config"]["seed"] = 1  # another seed is the same benchmark
    assert check_settings(a, run("s", ("m", [0.9]), record=seeded), allow=False) == []


def test_a_bundle_round_trips_a_run_folder(tmp_path: Path) -> None:
    folder = tmp_path / "lab" / "results"
    (folder / "scores" / "m").mkdir(parents=True)
    (folder / "tables").mkdir()
    (folder / "report").mkdir()
    (folder / "scores" / "old").mkdir()
    frame = scores("m", [0.9, 0.8, 0.7]).astype({"repeat": "int16", "click": "int16"})
    frame.to_parquet(folder / "scores/old/d.parquet")  # an older run's model: not this run's
    pd.DataFrame({"model": ["old"]}).to_csv(folder / "tables/stale.csv", index=False)
    os.utime(folder / "tables/stale.csv", (1e9, 1e9))  # a table from before this run's record
    frame.to_parquet(folder / "scores/m/d.parquet")
    (folder / RECORD).write_text(json.dumps(RECORD_OF))
    pd.DataFrame({"model": ["m"], "mean_dice": [0.8]}).to_csv(folder / "tables/by_target.csv",
                                                              index=False)  # fmt: skip
    bundle = export(tmp_path / "lab", tmp_path / "lab.zip")
    again = export(tmp_path / "lab", tmp_path / "again.zip")
    assert bundle.read_bytes() == again.read_bytes()  # deterministic
    original, shared = load_run(tmp_path / "lab"), load_run(bundle)
    assert original.name == "lab" and shared.name == "lab"
    pd.testing.assert_frame_equal(original.scores, shared.scores)
    assert set(shared.scores.model) == {"m"} and len(shared.scores) == 3
    assert shared.record == RECORD_OF and list(shared.tables) == ["by_target"]
    assert compare(original, shared, n_boot=50).dice_difference.abs().max() == 0
    with pytest.raises(CosmosError, match="neither a run bundle nor a finished run"):
        load_run(tmp_path / "nowhere")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(CosmosError, match="not a run bundle"):
        load_run(tmp_path / "junk.zip")


def test_the_leaderboard_ranks_within_a_settings_group_and_separates_the_others(
    tmp_path: Path,
) -> None:
    zoo = run("zoo", ("good", [0.9, 0.9, 0.8, 0.9]), ("weak", [0.3, 0.4, 0.2, 0.1]))
    mine = run("mine", ("own", [0.7, 0.6, 0.8, 0.7]))
    record = copy.deepcopy(RECORD_OF)
    record["config"]["report"]["nsd"] = "medsam"
    other = run("medsam-nsd", ("good", [0.9, 0.9, 0.8, 0.9]), record=record)
    table = standings([zoo, mine, other], n_boot=100)
    pooled = table[(table.group == 1) & (table.target == "all")]
    assert list(pooled.model) == ["good", "own", "weak"] and list(pooled["rank"]) == [1, 2, 3]
    assert set(table[table.group == 2].run) == {"medsam-nsd"}
    out = leaderboard([zoo, mine, other], tmp_path / "board.html", n_boot=100)
    page = out.read_text()
    assert page.count("<section") == 2 and "report.nsd: medsam" in page
    assert page.index("<td>good</td>") < page.index("<td>own</td>") < page.index("<td>weak</td>")
    assert (tmp_path / "board.csv").is_file()


def test_the_runs_commands_are_cosmos_bench_subcommands(tmp_path: Path, capsys) -> None:
    from cosmos_bench.cli import main

    folder = tmp_path / "lab" / "results"
    (folder / "scores" / "m").mkdir(parents=True)
    (folder / "report").mkdir()
    scores("m", [0.9, 0.7]).astype({"repeat": "int16", "click": "int16"}).to_parquet(
        folder / "scores/m/d.parquet")
    (folder / RECORD).write_text(json.dumps(RECORD_OF))
    main(["export", str(tmp_path / "lab"), "--out", str(tmp_path / "lab.zip")])
    main(["compare", str(tmp_path / "lab"), str(tmp_path / "lab.zip"), "--bootstrap", "50",
          "--out", str(tmp_path / "same.csv")])  # fmt: skip
    main(["leaderboard", str(tmp_path / "lab.zip"), "--out", str(tmp_path / "board.html")])
    out = capsys.readouterr().out
    assert "exported lab: 2 scores" in out and "m vs m S5 (single): 2 masks" in out
    assert "difference +0.000" in out and (tmp_path / "board.html").is_file()
    with pytest.raises(CosmosError, match="neither a run bundle"):
        main(["compare", str(tmp_path / "lab"), str(tmp_path / "missing")])
