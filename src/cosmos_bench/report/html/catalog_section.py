"""The report's catalog section: this run's datasets, modalities, objects and targets beside the
COSMOS cards' and the paper's, and the images and masks of what was harmonized."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from cosmos_bench.catalog.cards import PAPER_TOTALS
from cosmos_bench.report.html.sections import collapsible


def catalog_section(provenance: Mapping[str, Any]) -> str:
    """The run's catalog counts beside the COSMOS cards' and the paper's (README "The catalog"
    explains every difference)."""
    catalog = provenance.get("catalog")
    if not catalog:
        return ""
    columns = list(catalog)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *columns])
    rows = "".join(
        f"<tr><td>{key}</td>"
        + "".join(f"<td>{catalog[c].get(key, '')}</td>" for c in columns)
        + "</tr>"
        for key in ("datasets", "modalities", "objects", "targets")
    )
    return collapsible("catalog", "Catalog", (
        "<p>Targets are modality/object pairs derived from the dataset cards; "
        "the paper's numbers are those of COSMOS 1050K (Huang et al. 2024).</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        + _harmonized_table(provenance.get("harmonized") or {})
    ))


def _harmonized_table(harmonized: Mapping[str, Any]) -> str:
    """Images and masks per harmonized dataset, their total, and the paper's totals (its
    per-dataset counts, Table 1, are not public, so no per-dataset comparison is possible)."""
    if not harmonized:
        return ""
    rows = [(d, *harmonized[d]) for d in harmonized]
    total = ("total", sum(r[1] for r in rows), sum(r[2] for r in rows))
    paper = ("COSMOS 1050K (paper)", PAPER_TOTALS["images"], PAPER_TOTALS["masks"])
    body = "".join(
        f"<tr><td>{html.escape(str(name))}</td><td>{images:,}</td><td>{masks:,}</td></tr>"
        for name, images, masks in [*rows, total, paper]
    )
    return (
        "<p>Images and masks as harmonized in this run, beside the paper's totals; the paper's "
        "per-dataset counts are not public.</p><table><thead><tr><th>dataset</th>"
        f"<th>images</th><th>masks</th></tr></thead><tbody>{body}</tbody></table>"
    )
