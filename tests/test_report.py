"""Report tests on synthetic score shards: numbers, byte stability, HTML content, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cosmos_bench.harmonize.splits import split_of
from cosmos_bench.report.build import build_report, load_scores, write_tables
from cosmos_bench.report.html.html_table import untrained_note
from cosmos_bench.report.tables.aggregate import aggregate
from cosmos_bench.report.tables.outputs import FIGURES, TABLES
from cosmos_bench.report.tables.summaries import per_mask

SRC = Path(__file__).resolve().parents[1] / "src"
PROVENANCE = {
    "created": "2025-01-01T00:00:00Z",
    "git_commit": "0123abc",
    "seed": 1234,
    "packages": {"numpy": "2.0", "pandas": "2.2"},
    "dataset_sha256": {"demo-ct": "aa" * 32},
    "weight_sha256": {"litemedsam": "bb" * 32},
    "config": {"models": ["litemedsam", "grabcut"], "strategies": ["S5", "S2"]},
    "untrained_prompts": {"litemedsam": ["point"]},
}
# dataset -> (modality, {case: [(object, n_masks)]}); liver outnumbers kidney on purpose.
LAYOUT = {
    "demo-ct": ("CT", {"c0": [("liver", 3), ("kidney", 1)], "c1": [("liver", 2)]}),
    "demo-mr": ("MR", {"c0": [("prostate", 2)]}),
}


def score_row(
    model: str,
    strategy: str,
    dataset: str,
    case: str,
    modality: str,
    obj: str,
    index: int,
    repeat: int,
    dice: float,
) -> dict:
    """One row shaped like the scoring step's output."""
    uid = f"{dataset}/{case}/z{index:04d}"
    return {
        "mask_id": f"{uid}#{obj}", "uid": uid, "dataset": dataset, "cohort": "", "case": case,
        "split": split_of(dataset, case), "modality": modality, "object": obj,
        "target": f"{modality}/{obj}",
        "model": model, "strategy": strategy, "repeat": repeat, "click": 0, "selection": "single",
        "dice": dice, "iou": dice / (2 - dice), "nsd": min(1.0, dice + 0.05),
        "nsd_medsam": min(1.0, dice + 0.1),
        "hd95_mm": 20 * (1 - dice), "hd_px": 30 * (1 - dice), "area_px": 100 + index,
        "aspect_ratio": 0.5 + 0.1 * (index % 3), "intensity_difference": 10.0 + 3 * index,
        "f_final": 4.0 + (index % 2), "f_final_paper": 3.0 + (index % 3),
        "modality_code": 0 if modality == "CT" else 1, "empty_prediction": dice == 0.0,
        "candidate": 0, "pred_area_px": int(100 * dice), "pred_components": int(dice > 0),
        "pred_outside_box_px": 0,
    }  # fmt: skip


def write_shard(rows: list[dict], path: Path) -> Path:
    """Write rows with the shard dtypes (repeat int16, area_px int64)."""
    frame = pd.DataFrame(rows).astype({"repeat": "int16", "click": "int16", "area_px": "int64"})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def synthetic_rows(model: str, dataset: str) -> list[dict]:
    """Deterministic Dice values that differ by model, strategy, target and mask."""
    modality, cases = LAYOUT[dataset]
    rows = []
    for strategy, repeats in (("S5", 1), ("S2", 2)):
        for case, objects in cases.items():
            for obj, count in objects:
                for index in range(count):
                    for repeat in range(repeats):
                        base = 0.9 if model == "litemedsam" else 0.6
                        dice = base - 0.1 * (strategy == "S2") - 0.05 * index - 0.01 * repeat
                        rows.append(
                            score_row(
                                model,
                                strategy,
                                dataset,
                                case,
                                modality,
                                obj,
                                index,
                                repeat,
                                round(dice, 4),
                            )
                        )
    return rows


@pytest.fixture
def shards(tmp_path: Path) -> list[Path]:
    """Two shards per (model, dataset), in the scoring step's directory layout."""
    paths = []
    for model in ("litemedsam", "grabcut"):
        for dataset in LAYOUT:
            rows = synthetic_rows(model, dataset)
            half = len(rows) // 2
            base = tmp_path / "results" / "scores" / model / dataset
            paths.append(write_shard(rows[:half], base / "shard-00000.parquet"))
            paths.append(write_shard(rows[half:], base / "shard-00001.parquet"))
    return paths


def unbalanced_scores() -> pd.DataFrame:
    """Liver: three masks (0.9, 0.8, 0.7); kidney: one mask scored twice (0.2, 0.0)."""
    rows = [
        score_row("m", "S5", "d", "c0", "CT", "liver", 0, 0, 0.9),
        score_row("m", "S5", "d", "c0", "CT", "liver", 1, 0, 0.8),
        score_row("m", "S5", "d", "c1", "CT", "liver", 2, 0, 0.7),
        score_row("m", "S5", "d", "c0", "CT", "kidney", 3, 0, 0.2),
        score_row("m", "S5", "d", "c0", "CT", "kidney", 3, 1, 0.0),
    ]
    return pd.DataFrame(rows)


def test_mask_and_target_weighting_differ_on_unbalanced_targets() -> None:
    tables = aggregate(unbalanced_scores())
    overall = tables["overall"].iloc[0]
    # repeats of the kidney mask average to 0.1 before anything else
    assert overall["dice_mask_weighted"] == pytest.approx((0.9 + 0.8 + 0.7 + 0.1) / 4)
    assert overall["dice_target_weighted"] == pytest.approx((0.8 + 0.1) / 2)
    assert overall["n_masks"] == 4
    assert overall["n_targets"] == 2

    by_target = tables["by_target"].set_index("target")
    assert list(by_target.index) == ["CT/kidney", "CT/liver"]
    liver = by_target.loc["CT/liver"]
    assert liver["n_masks"] == 3
    assert liver["n_cases"] == 2
    assert liver["n_images"] == 3
    assert liver["mean_dice"] == pytest.approx(0.8)
    assert liver["median_dice"] == pytest.approx(0.8)
    assert liver["std_dice"] == pytest.approx(0.1)
    assert by_target.loc["CT/kidney", "mean_dice"] == pytest.approx(0.1)


def test_aggregate_columns_and_groups(shards: list[Path], tmp_path: Path) -> None:
    """Each summary has its declared columns (the CSV a user reads, in docs/report.md), every
    metric with its CI."""
    from cosmos_bench.report.tables.summaries import (
        DISTANCES,
        OVERALL_COLUMNS,
        RUN_KEYS,
        STAT_COLUMNS,
    )

    tables = aggregate(load_scores(shards))
    for by in ("target", "object", "dataset", "modality"):
        assert list(tables[f"by_{by}"].columns) == [*RUN_KEYS, by, *STAT_COLUMNS]
    for metric in ("dice", *DISTANCES):
        mean = "mean_dice" if metric == "dice" else f"mean_{metric}"
        low, high = ("ci_low", "ci_high") if metric == "dice" else (f"{metric}_ci_low",
                                                                    f"{metric}_ci_high")
        table = tables["by_target"].dropna(subset=[low])  # one case: no bootstrap interval
        assert len(table) and (table[low] <= table[mean] + 1e-12).all()
        assert (table[mean] <= table[high] + 1e-12).all()
    assert list(tables["overall"].columns) == OVERALL_COLUMNS
    written = write_tables({"by_target": tables["by_target"]}, tmp_path)
    assert pd.read_csv(written[0]).columns.tolist() == [*RUN_KEYS, "target", *STAT_COLUMNS]
    # 2 models x 2 strategies x 3 targets; n_cases counts (dataset, case), so c0 twice
    assert len(tables["by_target"]) == 12
    ct = tables["by_modality"].query("model == 'grabcut' and strategy == 'S5' and modality == 'CT'")
    assert ct[["n_masks", "n_cases"]].values.tolist() == [[6, 2]]
    overall = tables["overall"].query("model == 'litemedsam' and strategy == 'S5'").iloc[0]
    assert overall["n_masks"] == 8
    assert overall["n_targets"] == 3


def test_load_scores_order_does_not_depend_on_file_order(shards: list[Path]) -> None:
    forward = load_scores(shards)
    backward = load_scores(list(reversed(shards)))
    pd.testing.assert_frame_equal(forward, backward)


def test_outputs_are_byte_stable_and_html_is_complete(
    shards: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = []
    for name, paths in (("a", shards), ("b", list(reversed(shards)))):
        out = tmp_path / name
        build_report(
            paths, out / "tables", out / "figures", out / "report.html", PROVENANCE,
            summary=out / "summary.md", n_boot=200,
        )  # fmt: skip
        runs.append(out)
    assert "masks" in capsys.readouterr().out

    tables = sorted(p.name for p in (runs[0] / "tables").iterdir())
    assert tables == sorted(f"{t}.{ext}" for t in TABLES for ext in ("csv", "parquet"))
    drawn = sorted(p.name for p in (runs[0] / "figures").iterdir())
    assert drawn == sorted(f"{f}.{ext}" for f in FIGURES for ext in ("png", "svg"))
    for sub in ("tables", "figures"):
        for path in (runs[0] / sub).iterdir():
            assert path.read_bytes() == (runs[1] / sub / path.name).read_bytes(), path.name
    for name in ("report.html", "summary.md"):
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes()
    assert not list(runs[0].rglob("*.tmp"))

    page = (runs[0] / "report.html").read_text("utf-8")
    assert "cosmos-bench report" in page
    assert page.count("data:image/png;base64,") == len(FIGURES)
    assert page.count("<script>") == 1 and "src=" not in page.replace('img src="data:', "")
    assert "http" not in page
    assert 'id="per-target-table"' in page and "95% CI low" in page and "Partial run" not in page
    summary = (runs[0] / "summary.md").read_text("utf-8")
    assert "| litemedsam | S5 | single |" in summary and "## Per target" in summary
    for name in ("CT/liver", "CT/kidney", "MR/prostate", "litemedsam", "grabcut", "demo-mr"):
        assert name in page
    assert "model not trained on point prompts" in page
    for text in ("0123abc", "aa" * 32, "strategies:", "mean Dice (target-weighted)"):
        assert text in page


def test_untrained_note_follows_prompt_kinds() -> None:
    provenance = {"untrained_prompts": {"litemedsam": ["point"]}}
    assert untrained_note("litemedsam", "S2", provenance) == "model not trained on point prompts"
    assert untrained_note("litemedsam", "S6", provenance) == "model not trained on point prompts"
    assert untrained_note("litemedsam", "S5", provenance) == ""
    assert untrained_note("litemedsam", "medsam-box-pad5", provenance) == ""
    assert untrained_note("grabcut", "S2", provenance) == ""
    assert untrained_note("litemedsam", "S2", {}) == ""


def test_html_escapes_text(shards: list[Path], tmp_path: Path) -> None:
    provenance = {"git_commit": "<b>evil</b>"}
    html_path = tmp_path / "report.html"
    build_report(shards, tmp_path / "t", tmp_path / "f", html_path, provenance)
    page = html_path.read_text("utf-8")
    assert "<b>evil</b>" not in page
    assert "&lt;b&gt;evil&lt;/b&gt;" in page


def test_empty_scores_raise_a_clear_error(tmp_path: Path) -> None:
    empty = write_shard(
        [score_row("m", "S5", "d", "c", "CT", "liver", 0, 0, 0.5)], tmp_path / "empty.parquet"
    )
    pd.read_parquet(empty).iloc[0:0].to_parquet(empty, index=False)
    with pytest.raises(ValueError, match="no scores were found") as caught:
        load_scores([empty])
    assert str(empty) in str(caught.value)
    with pytest.raises(ValueError, match="no scores were found"):
        load_scores([])


def test_missing_column_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    pd.DataFrame({"mask_id": ["a"], "dice": [0.5]}).to_parquet(path, index=False)
    with pytest.raises(ValueError, match="lacks column") as caught:
        load_scores([path])
    assert str(path) in str(caught.value)


def test_cli_end_to_end(shards: list[Path], tmp_path: Path) -> None:
    provenance = tmp_path / "provenance.json"
    provenance.write_text(json.dumps(PROVENANCE), "utf-8")
    out = tmp_path / "cli"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable, "-m", "cosmos_bench.report",
        "--scores", *map(str, shards),
        "--tables-dir", str(out / "tables"), "--figures-dir", str(out / "figures"),
        "--html", str(out / "report.html"), "--provenance", str(provenance),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    assert (out / "tables" / "overall.csv").is_file()
    assert (out / "figures" / "dice_by_target.png").read_bytes()[:4] == b"\x89PNG"
    assert "model not trained on point prompts" in (out / "report.html").read_text("utf-8")


def test_the_report_shows_the_catalog_counts_beside_the_paper(tmp_path: Path) -> None:
    from helpers import ROOT

    from cosmos_bench.report.html.catalog_section import catalog_section
    from cosmos_bench.report.provenance import catalog_counts

    catalog = catalog_counts(["demo-ct", "kits19"], ROOT)
    assert catalog["this run"]["datasets"] == 2 and catalog["paper"]["targets"] == 125
    assert catalog["COSMOS cards"]["datasets"] == 53
    html = catalog_section({"catalog": catalog})
    assert "<td>targets</td>" in html and "<th>paper</th>" in html and "<td>125</td>" in html
    counts = {"demo-ct": (86, 256), "demo-endo": (12, 12)}
    html = catalog_section({"catalog": catalog, "harmonized": counts})
    assert "<tr><td>demo-ct</td><td>86</td><td>256</td></tr>" in html
    assert "<tr><td>total</td><td>98</td><td>268</td></tr>" in html
    assert "<td>COSMOS 1050K (paper)</td><td>1,050,311</td><td>6,033,198</td>" in html


def test_the_nsd_convention_is_chosen_and_named(shards: list[Path], tmp_path: Path) -> None:
    """report.nsd picks the score column the summaries average (the contour NSD or MedSAM's)
    and every summary table and the page name it."""
    scores = load_scores(shards)
    for convention, column in (("contour", "nsd"), ("medsam", "nsd_medsam")):
        out = tmp_path / convention
        build_report(shards, out / "t", out / "f", out / "report.html", PROVENANCE, n_boot=100,
                     nsd=convention)  # fmt: skip
        by_target = pd.read_csv(out / "t" / "by_target.csv")
        assert set(by_target.nsd_convention) == {convention}
        row = by_target.iloc[0]
        expected = per_mask(scores.assign(nsd=scores[column])).query(
            "model == @row.model and strategy == @row.strategy and selection == @row.selection "
            "and target == @row.target"
        ).nsd.mean()
        assert row.mean_nsd == pytest.approx(expected, abs=1e-4)
        assert f"mean NSD ({convention})" in (out / "report.html").read_text("utf-8")


def test_an_empty_predictions_hd_is_the_diagonal_or_the_authors_zero(tmp_path: Path) -> None:
    """report.hd_empty: the authors' get_score.py `hd` catches the empty-mask error and returns
    0; the default keeps the score step's diagonal, so a failure is never a perfect HD."""
    rows = [score_row("m", "S5", "d", f"c{k}", "CT", "liver", k, 0, dice)
            for k, dice in enumerate((0.0, 0.8))]  # fmt: skip
    shard = write_shard(rows, tmp_path / "s.parquet")  # hd_px = 30 (1 - Dice): 30 and 6
    for setting, mean in (("diagonal", 18.0), ("zero", 3.0)):
        out = tmp_path / setting
        build_report([shard], out / "t", out / "f", out / "report.html", PROVENANCE,
                     n_boot=100, hd_empty=setting)  # fmt: skip
        assert pd.read_csv(out / "t" / "by_target.csv").mean_hd_px.iloc[0] == mean
