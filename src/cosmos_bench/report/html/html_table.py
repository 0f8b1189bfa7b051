"""HTML tables of the report: numbers formatted once, significant p-values in bold, and
the note on rows a model was not trained for."""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from cosmos_bench.core.strategies import kinds_of

SIGNIFICANT_P = 0.001  # the paper marks p < 0.001 in bold


# ---------------------------------------------------------------------------------------------
# HTML


def untrained_note(model: str, strategy: str, provenance: Mapping[str, Any]) -> str:
    """Flag rows whose prompts the model never saw in training: their scores mean less."""
    untrained = set((provenance.get("untrained_prompts") or {}).get(model, []))
    kinds = sorted(kinds_of(strategy) & untrained)
    return f"model not trained on {' and '.join(kinds)} prompts" if kinds else ""


def cell_text(value: Any) -> tuple[str, bool]:
    """Escaped cell text and whether it is numeric; floats to 3 decimals, NaN as a dash."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value)), True
    if isinstance(value, numbers.Real):
        if math.isnan(value):
            return "&ndash;", True
        return (f"{value:.3f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.1e}"), True
    return html.escape(str(value)), False


def html_table(
    frame: pd.DataFrame,
    columns: Mapping[str, str],
    notes: list[str] | None = None,
    strong: list[bool] | None = None,
    table_id: str = "",
) -> str:
    """A sortable table of ``columns`` (source name -> header), with a note column only if a
    row has a note; rows flagged in `strong` are bold."""
    notes = notes or [""] * len(frame)
    strong = strong or [False] * len(frame)
    show_notes = any(notes)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in columns.values())
    head += "<th>note</th>" if show_notes else ""
    rows = []
    records = frame[list(columns)].itertuples(index=False)
    for record, note, bold in zip(records, notes, strong, strict=True):
        cells = []
        for value in record:
            text, numeric = cell_text(value)
            classes = " ".join(c for c, on in (("num", numeric), ("strong", bold)) if on)
            cells.append(f'<td class="{classes}">{text}</td>' if classes else f"<td>{text}</td>")
        if show_notes:
            cells.append(f'<td class="note">{"† " + html.escape(note) if note else ""}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return (
        f'<table class="sortable"{ident}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def row_notes(frame: pd.DataFrame, provenance: Mapping[str, Any]) -> list[str]:
    return [
        untrained_note(str(m), str(s), provenance)
        for m, s in zip(frame["model"], frame["strategy"], strict=True)
    ]


def listed_names(values: Iterable[Any]) -> str:
    return ", ".join(sorted({str(v) for v in values}))
