"""Parquet tables with a fixed schema, written atomically: a rerun after kill -9 never reads a
half-written file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def write_table(
    df: pd.DataFrame,
    path: Path,
    schema: pa.Schema,
    meta: dict[str, str],
    row_groups_by: str | None = None,
) -> None:
    """Write a Parquet table with a fixed schema, atomically (temp name, then rename).

    With `row_groups_by`, each value of that column (the rows must be sorted by it) is one row
    group, so a reader filtering on it skips the others by their statistics."""
    table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    table = table.replace_schema_metadata({**meta})
    tmp = path.with_name(path.name + ".tmp")
    with pq.ParquetWriter(tmp, table.schema, compression="zstd") as writer:
        if row_groups_by is None or not len(df):
            writer.write_table(table)
        else:
            keys = df[row_groups_by].to_numpy()
            bounds = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1), len(keys)]
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
                writer.write_table(table.slice(lo, hi - lo))
    os.replace(tmp, path)
