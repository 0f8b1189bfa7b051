"""summary.md: the report's headline numbers as Markdown, for a README or a paper draft."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.report.html.html_table import cell_text
from cosmos_bench.report.html.sections import GROUP_COLUMNS, coverage, with_interval_cells
from cosmos_bench.report.tables.summaries import RUN_KEYS


def _markdown_table(frame: pd.DataFrame, columns: Mapping[str, str]) -> str:
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    for record in frame[list(columns)].itertuples(index=False):
        cells = [cell_text(v)[0].replace("&ndash;", "-") for v in record]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_summary(tables: Mapping[str, pd.DataFrame], out: Path, provenance: Mapping) -> None:
    """The overall and per-target numbers as Markdown, for a README, a paper draft or a PR."""
    facts = coverage(tables, provenance)
    lines = ["# cosmos-bench summary", ""]
    lines += [f"- **{k}**: {v}" for k, v in facts.items()]
    overall_columns = {
        "model": "model", "strategy": "strategy", "selection": "selection",
        "n_masks": "masks", "n_cases": "cases", "dice_mask_weighted": "Dice (mask-weighted)",
        "ci_low": "95% CI low", "ci_high": "95% CI high",
        "dice_target_weighted": "Dice (target-weighted)",
    }  # fmt: skip
    lines += ["", "## Overall", "", _markdown_table(tables["overall"], overall_columns)]
    by_target = with_interval_cells(
        tables["by_target"].sort_values(["target", *RUN_KEYS], kind="mergesort")
    )
    lines += [
        "",
        "## Per target",
        "",
        _markdown_table(
            by_target,
            {
                "target": "target",
                **{k: v for k, v in GROUP_COLUMNS.items() if k not in ("std_dice", "mean_iou")},
            },
        ),
    ]
    lines += ["", f"Git commit: `{provenance.get('git_commit', 'unknown')}`; seed: "
              f"{provenance.get('seed', 'unknown')}. Full report: index.html.", ""]  # fmt: skip
    write_bytes(Path(out), "\n".join(lines).encode("utf-8"))
