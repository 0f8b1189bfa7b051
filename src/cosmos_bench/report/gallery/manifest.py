"""The gallery's manifest.json: the cases the gallery job drew (report.gallery) with their Dice
and caption notes, which the page reads (report.build). A module of its own, so the page's job
reads it without importing the drawing job's readers (h5py, OpenCV)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.report.gallery.cases import CASE_COLUMNS

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def write_manifest(cases: pd.DataFrame, out: Path) -> Path:
    """manifest.json: the cases in gallery order (sorted keys, no timestamps: byte-stable)."""
    records = [
        {**{c: row[c] for c in CASE_COLUMNS}, "dice": round(float(row["dice"]), 6),
         "repeat": int(row["repeat"]), "click": int(row["click"]), "note": row["note"]}
        for _, row in cases.iterrows()
    ]  # fmt: skip
    document = {"version": MANIFEST_VERSION, "cases": records}
    path = out / MANIFEST
    write_bytes(path, (json.dumps(document, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    return path


def read_manifest(folder: Path) -> pd.DataFrame:
    """The gallery's cases (CASE_COLUMNS + `note`); empty when there is no gallery."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return pd.DataFrame(columns=[*CASE_COLUMNS, "note"])
    cases = json.loads(path.read_text("utf-8"))["cases"]
    return pd.DataFrame(cases, columns=[*CASE_COLUMNS, "note"])
