"""Turn per-mask score shards into tables, figures, one self-contained HTML page and a summary.

The numbers come from report.tables.aggregate (summaries with case-bootstrap CIs, paired
comparisons, factor analysis) and report.tables.studies; the figures from report.figures.
Outputs are byte-stable (sorted rows, rounded floats, fixed formats, no timestamps) so that a
re-run that changes nothing changes no file.

Provenance keys the HTML page knows by name (others are shown after them, as JSON):
``created``, ``git_commit``, ``seed``, ``packages``, ``dataset_sha256``, ``weight_sha256``,
``config``, ``stage_seconds`` and ``untrained_prompts`` (``{model: ["point", ...]}``, used for
row notes).
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cosmos_bench.contracts import SCORE_SCHEMA
from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.core.errors import CosmosError
from cosmos_bench.report import figures
from cosmos_bench.report.gallery.manifest import read_manifest
from cosmos_bench.report.html.page import write_html
from cosmos_bench.report.html.summary_md import write_summary
from cosmos_bench.report.provenance import stage_seconds
from cosmos_bench.report.tables.aggregate import aggregate
from cosmos_bench.report.tables.outputs import FIGURES
from cosmos_bench.report.tables.paper import load_paper
from cosmos_bench.report.tables.stats import CI_LEVEL, N_BOOTSTRAP
from cosmos_bench.report.tables.summaries import (
    COMPLEXITY,
    DISTANCES,
    FACTORS,
    NSD_CONVENTIONS,
    one_shot,
    per_mask,
)
from cosmos_bench.report.tables.taxonomy import SHAPE
from cosmos_bench.store.index import index_counts

#: what the report reads of the score files (the rest of SCORE_SCHEMA stays on disk): every
#: identity column before the metrics, Dice, IoU, the boundary metrics, the factors and the
#: failure taxonomy's measures (empty, the prediction's shape)
SCORE_COLUMNS = (
    *SCORE_SCHEMA.names[: SCORE_SCHEMA.names.index("dice")], "dice", "iou", *DISTANCES, *FACTORS,
    COMPLEXITY["paper"], "empty_prediction", *SHAPE, NSD_CONVENTIONS["medsam"],
)


SORT_KEYS = ["model", "dataset", "strategy", "mask_id", "repeat", "selection"]


class ScoresError(CosmosError, ValueError):
    """Score files that cannot be summarised (none given, no rows, missing columns)."""


# ---------------------------------------------------------------------------------------------
# loading and aggregation


def load_scores(paths: Iterable[Path]) -> pd.DataFrame:
    """Concatenate score shards in a fixed row order, so outputs do not depend on file order."""
    paths = [Path(p) for p in paths]
    frames = [_read_shard(p) for p in paths]
    non_empty = [f for f in frames if len(f)]
    if not non_empty:
        listed = "\n".join(f"    {p}" for p in paths) or "    (none)"
        raise ScoresError(
            f"no scores were found: {len(paths)} score file(s) read, none has a row:\n{listed}",
            fix="check that the scoring step ran and wrote rows for the models and datasets "
            "in the config",
        )
    scores = pd.concat(non_empty, ignore_index=True)
    return scores.sort_values(SORT_KEYS, kind="mergesort").reset_index(drop=True)


def _read_shard(path: Path) -> pd.DataFrame:
    """Read one shard and fail early, naming the file, when it lacks a score column."""
    frame = pd.read_parquet(path)
    missing = [c for c in SCORE_COLUMNS if c not in frame.columns]
    if missing:
        raise ScoresError(
            f"score file lacks column(s) {', '.join(missing)}",
            path=str(path),
            fix="re-run the scoring step that writes this file",
        )
    return frame[list(SCORE_COLUMNS)]


# ---------------------------------------------------------------------------------------------
# files


def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """Write each table as ``{name}.csv`` and ``{name}.parquet`` (no index). Floats are already
    rounded (aggregate.rounded), so the shortest repr pandas writes is stable."""
    written = []
    for name in sorted(tables):
        path = Path(out_dir) / f"{name}.csv"
        text = tables[name].to_csv(index=False, lineterminator="\n", na_rep="")
        write_bytes(path, text.encode("utf-8"))
        buffer = io.BytesIO()
        tables[name].to_parquet(buffer, index=False)
        write_bytes(path.with_suffix(".parquet"), buffer.getvalue())
        written += [path, path.with_suffix(".parquet")]
    return written


# ---------------------------------------------------------------------------------------------
# entry points


def draw_figures(scores: pd.DataFrame, tables: Mapping[str, pd.DataFrame], out_dir: Path) -> list:
    """Every figure of outputs.FIGURES, in that order, as PNG (and SVG) files in `out_dir`."""
    masks = one_shot(per_mask(scores[scores["click"] == 0]))
    out = {name: Path(out_dir) / f"{name}.png" for name in FIGURES}
    return [
        figures.strategy_points(tables["overall"], out["dice_by_strategy"]),
        figures.dice_boxes(masks, "target", "Dice per target (one sample per mask)",
                           out["dice_by_target"]),
        figures.dice_boxes(masks, "modality", "Dice per modality (one sample per mask)",
                           out["dice_by_modality"]),
        figures.target_heatmap(tables["by_target"], out["target_heatmap"]),
        figures.click_curves(tables["click_curves"], out["dice_vs_clicks"]),
        figures.jitter_curves(tables["jitter_drop"], out["jitter_drop"]),
        figures.oracle_gap_bars(tables["oracle_gap"], out["oracle_gap"]),
        figures.factor_scatter(masks, out["factors"]),
        figures.boxes_3d(tables["propagation_objects"], "dice", out["dice3d_by_target"]),
        figures.boxes_3d(tables["propagation_objects"], "nsd", out["nsd3d_by_target"]),
        figures.finetune_loss(tables["finetune_loss"], out["finetune_loss"]),
        figures.finetune_delta(tables["finetune"], out["finetune_delta"]),
    ]  # fmt: skip


def build_report(
    score_paths: list[Path],
    tables_dir: Path,
    figures_dir: Path,
    html_path: Path,
    provenance: Mapping[str, Any],
    summary: Path | None = None,
    benchmarks: Sequence[Path] = (),
    n_boot: int = N_BOOTSTRAP,
    level: float = CI_LEVEL,
    run_dirs: Iterable[Path] = (),
    propagation: Iterable[Path] = (),
    indexes: Iterable[Path] = (),
    complexity: str = "paper",
    nsd: str = "contour",
    hd_empty: str = "diagonal",
    gallery: Path | None = None,
    paper: Path | None = None,
) -> None:
    """Load, aggregate, write tables, figures, the HTML page and the summary, naming each.
    `indexes` (harmonized/{dataset}/index.parquet) give the catalog section its counts;
    `gallery` is the gallery job's folder; `paper` resources/paper_results.yaml. `nsd` names
    the NSD convention every summary reports (NSD_CONVENTIONS); the tables say which in
    `nsd_convention`.
    `hd_empty` is the paper's HD of an empty prediction: the diagonal, or 0 as the authors'
    get_score.py returns."""
    scores = load_scores(score_paths)
    scores["nsd"] = scores[NSD_CONVENTIONS[nsd]]
    if hd_empty == "zero":
        scores.loc[scores["empty_prediction"], "hd_px"] = 0.0
    runs = load_runs(run_dirs)
    frames = [pd.read_parquet(p) for p in propagation]
    objects3d = pd.concat(frames, ignore_index=True) if frames else None
    print(
        f"report: {len(scores)} score rows, {scores['mask_id'].nunique()} masks, "
        f"{scores['model'].nunique()} models, {scores['strategy'].nunique()} strategies "
        f"from {len(score_paths)} files; {n_boot} case-bootstrap resamples per CI",
        flush=True,
    )
    seed = int(provenance.get("seed") or 0)
    tables = aggregate(scores, seed, n_boot, level, runs, objects3d, complexity,
                       load_paper(paper) if paper else {})  # fmt: skip
    for table in tables.values():
        if "mean_nsd" in table:
            table.insert(table.columns.get_loc("mean_nsd"), "nsd_convention", nsd)
    for path in write_tables(tables, Path(tables_dir)):
        print(f"report: wrote {path}", flush=True)
    paths = draw_figures(scores, tables, Path(figures_dir))
    for path in paths:
        print(f"report: wrote {path} (+ .svg)", flush=True)
    if benchmarks:
        provenance = {**provenance, "stage_seconds": stage_seconds(benchmarks)}
    harmonized = {Path(p).parent.name: index_counts(Path(p)) for p in indexes}
    provenance = {**provenance, "harmonized": dict(sorted(harmonized.items()))}
    cases = read_manifest(gallery) if gallery else None
    write_html(tables, paths, Path(html_path), provenance, runs, cases, gallery, level)
    print(f"report: wrote {html_path}", flush=True)
    if summary:
        write_summary(tables, Path(summary), provenance)
        print(f"report: wrote {summary}", flush=True)


def load_runs(run_dirs: Iterable[Path]) -> dict[str, dict]:
    """Each fine-tuning run's weights.json (`meta`) and loss.csv (`log`), by model id."""
    runs = {}
    for folder in map(Path, run_dirs):
        meta = json.loads((folder / "weights.json").read_text("utf-8"))
        runs[meta["model"]] = {"meta": meta, "log": pd.read_csv(folder / "loss.csv")}
    return runs


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m cosmos_bench.report",
        description="Summarise score shards into tables, figures, an HTML page and a summary.",
    )
    parser.add_argument("--scores", nargs="+", type=Path, required=True, help="score parquet files")
    parser.add_argument("--tables-dir", type=Path, required=True)
    parser.add_argument("--figures-dir", type=Path, required=True)
    parser.add_argument("--html", type=Path, required=True)
    parser.add_argument("--summary", type=Path, help="write the Markdown summary here")
    parser.add_argument(
        "--provenance", type=Path, help="JSON file with provenance (config, versions, sha256s, ...)"
    )
    parser.add_argument(
        "--benchmarks", nargs="*", type=Path, default=[],
        help="the run's benchmark files (benchmarks/runs/{stage}/...): wall time per stage",
    )  # fmt: skip
    parser.add_argument("--bootstrap", type=int, default=N_BOOTSTRAP, help="resamples per CI")
    parser.add_argument("--ci-level", type=float, default=CI_LEVEL)
    parser.add_argument(
        "--finetune", nargs="*", type=Path, default=[],
        help="fine-tuning run folders (weights.json + loss.csv)",
    )  # fmt: skip
    parser.add_argument(
        "--propagation", nargs="*", type=Path, default=[],
        help="3D propagation tables (cosmos_bench.propagation)",
    )  # fmt: skip
    parser.add_argument(
        "--complexity", choices=sorted(COMPLEXITY), default="paper",
        help="the boundary-complexity rule of the factor analysis (report.complexity)",
    )  # fmt: skip
    parser.add_argument(
        "--hd-empty", choices=["diagonal", "zero"], default="diagonal",
        help="the HD (px) of an empty prediction (report.hd_empty)",
    )  # fmt: skip
    parser.add_argument(
        "--nsd", choices=sorted(NSD_CONVENTIONS), default="contour",
        help="the NSD the summaries report (report.nsd): contour or MedSAM's",
    )  # fmt: skip
    parser.add_argument(
        "--indexes", nargs="*", type=Path, default=[],
        help="the harmonized indexes, for the catalog's image and mask counts",
    )  # fmt: skip
    parser.add_argument("--gallery", type=Path, help="the gallery job's folder (manifest.json)")
    parser.add_argument(
        "--paper", type=Path, help="the paper's numbers (resources/paper_results.yaml)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; provenance comes from a JSON file."""
    args = _parse_args(argv)
    provenance = json.loads(args.provenance.read_text("utf-8")) if args.provenance else {}
    build_report(
        args.scores, args.tables_dir, args.figures_dir, args.html, provenance,
        args.summary, args.benchmarks, args.bootstrap, args.ci_level, args.finetune,
        args.propagation, args.indexes, args.complexity, args.nsd, args.hd_empty,
        args.gallery, args.paper,
    )  # fmt: skip
