"""One HTML page ranking runs: per settings group (runs whose benchmark-defining settings
differ are never ranked together), strategy and target (all targets pooled first), every
(run, model, selection) by mean Dice, with its case-bootstrap CI, the mean NSD under the run's
convention and the masks and cases counted. What a lab publishes next to a paper."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.report.tables.stats import CI_LEVEL, N_BOOTSTRAP
from cosmos_bench.report.tables.summaries import summarise
from cosmos_bench.runs.compare import ALL, run_masks
from cosmos_bench.runs.record import Run

_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{padding:.25rem .6rem;
border-bottom:1px solid #ddd;text-align:left}td.n{text-align:right;font-variant-numeric:
tabular-nums}caption{text-align:left;font-weight:600;padding:.3rem 0}code{font-size:.9em}"""


def standings(runs: list[Run], seed: int = 0, n_boot: int = N_BOOTSTRAP,
              level: float = CI_LEVEL) -> pd.DataFrame:  # fmt: skip
    """Every (settings group, run, model, strategy, selection, target) with its statistics,
    ranked within (group, strategy, selection rule, target) by mean Dice."""
    frames = []
    groups: dict[str, int] = {}
    for run in runs:
        key = json.dumps(run.settings, sort_keys=True, default=str)
        group = groups.setdefault(key, len(groups) + 1)
        masks = run_masks(run)
        for table in (summarise(masks.assign(pooled=ALL), "pooled", seed, n_boot, level)
                      .rename(columns={"pooled": "target"}),
                      summarise(masks, "target", seed, n_boot, level)):  # fmt: skip
            frames.append(table.assign(group=group, run=run.name,
                                       nsd_convention=masks["nsd_convention"].iloc[0]))  # fmt: skip
    table = pd.concat(frames, ignore_index=True)
    table["rank"] = (
        table.groupby(["group", "strategy", "selection", "target"])["mean_dice"]
        .rank(ascending=False, method="min").astype(int)
    )  # fmt: skip
    table["per_target"] = table["target"] != ALL  # the pooled table first
    order = ["group", "strategy", "selection", "per_target", "target", "rank", "run", "model"]
    table = table.sort_values(order, kind="mergesort").drop(columns="per_target")
    return table.reset_index(drop=True)


def _cell(value: object, numeric: bool = False) -> str:
    return f'<td class="n">{value}</td>' if numeric else f"<td>{html.escape(str(value))}</td>"


def _rows(block: pd.DataFrame) -> str:
    lines = []
    for r in block.itertuples():
        lines.append("<tr>" + "".join([
            _cell(r.rank, True), _cell(r.run), _cell(r.model), _cell(r.n_masks, True),
            _cell(r.n_cases, True),
            _cell(f"{r.mean_dice:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]", True),
            _cell(f"{r.mean_nsd:.3f} [{r.nsd_ci_low:.3f}, {r.nsd_ci_high:.3f}]", True),
        ]) + "</tr>")  # fmt: skip
    return "\n".join(lines)


def render(runs: list[Run], table: pd.DataFrame) -> str:
    """The page: each settings group with its settings and runs, then its ranked tables."""
    parts = ["<!doctype html><html lang=en><meta charset=utf-8>",
             "<title>cosmos-bench leaderboard</title>", f"<style>{_STYLE}</style>",
             "<h1>cosmos-bench leaderboard</h1>",
             f"<p>{len(runs)} runs. Ranked by mean Dice on each run's own masks; CIs are "
             "95% case-bootstrap intervals (patients resampled). Runs with different "
             "benchmark settings are ranked in separate groups.</p>"]  # fmt: skip
    by_name = {run.name: run for run in runs}
    header = ("<tr><th>rank</th><th>run</th><th>model</th><th>masks</th><th>cases</th>"
              "<th>Dice [CI]</th><th>NSD [CI]</th></tr>")  # fmt: skip
    for group, of_group in table.groupby("group", sort=True):
        names = list(dict.fromkeys(of_group["run"]))
        settings = by_name[names[0]].settings
        listed = ", ".join(f"<code>{html.escape(k)}: {html.escape(str(v))}</code>"
                           for k, v in settings.items())  # fmt: skip
        parts.append(f'<section id="group-{group}"><h2>Settings group {group}</h2>')
        parts.append(f"<p>Runs: {html.escape(', '.join(names))}.</p><p>{listed}</p>")
        for (strategy, selection, target), block in of_group.groupby(
            ["strategy", "selection", "target"], sort=False
        ):
            caption = f"{strategy}, selection {selection}, target {target}"
            parts.append(f"<table><caption>{html.escape(caption)} (NSD: "
                         f"{html.escape(block['nsd_convention'].iloc[0])})</caption>"
                         f"{header}{_rows(block)}</table>")  # fmt: skip
        parts.append("</section>")
    return "\n".join(parts) + "\n</html>\n"


def leaderboard(runs: list[Run], out: Path, seed: int = 0, n_boot: int = N_BOOTSTRAP) -> Path:
    """Write the page (and its table as CSV beside it) for `runs`."""
    names = [run.name for run in runs]
    for k, run in enumerate(runs):  # two bundles of one name stay two rows
        if names.count(run.name) > 1:
            run.name = f"{run.name} ({k + 1})"
    table = standings(runs, seed, n_boot)
    write_bytes(out.with_suffix(".csv"), table.to_csv(index=False, float_format="%.6g").encode())
    write_bytes(out, render(runs, table).encode())
    return out
