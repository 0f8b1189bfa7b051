"""The harmonized index: one row per mask (cosmos_bench.contracts.INDEX_SCHEMA), read and
written with its schema version checked, and harmonize's summary beside the rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from cosmos_bench.contracts import (
    INDEX_SCHEMA,
    INDEX_SCHEMA_VERSION,
    INDEX_VERSION_KEY,
    SUMMARY_KEY,
)
from cosmos_bench.core.errors import CosmosError
from cosmos_bench.core.tables import write_table


def write_index(df: pd.DataFrame, path: Path, summary: dict | None = None) -> None:
    """Write the index; `summary` (JSON-able) travels in the file, so it stays with its rows."""
    meta = {INDEX_VERSION_KEY: INDEX_SCHEMA_VERSION}
    if summary is not None:
        meta[SUMMARY_KEY] = json.dumps(summary, sort_keys=True)
    write_table(df, path, INDEX_SCHEMA, meta)


def read_index(path: Path) -> pd.DataFrame:
    """Read an index, refusing one written under another schema version."""
    table = pq.read_table(path)
    version = (table.schema.metadata or {}).get(INDEX_VERSION_KEY.encode(), b"?").decode()
    if version != INDEX_SCHEMA_VERSION:
        raise CosmosError(
            f"index schema version {version}, this code reads {INDEX_SCHEMA_VERSION}",
            path=str(path),
            fix="rerun harmonization for this dataset (delete results/harmonized/<dataset>)",
        )
    return table.to_pandas()


def index_counts(path: Path) -> tuple[int, int]:
    """(images, masks) of a harmonized dataset, read from its index's uid column only."""
    uids = pq.read_table(path, columns=["uid"]).column("uid")
    return len(uids.unique()), len(uids)


def read_summary(path: Path) -> dict:
    """Harmonize's summary stored with an index ({} where none was written)."""
    meta = pq.read_schema(path).metadata or {}
    text = meta.get(SUMMARY_KEY.encode())
    return json.loads(text) if text else {}
