"""The harmonized index: one row per mask, the contract between harmonize and later stages.

The schema is versioned: a change of columns or meaning bumps INDEX_SCHEMA_VERSION and the
README's table. The version is stored in the Parquet file's metadata and checked on read.
Beside it, the metadata holds harmonize's summary (SUMMARY_KEY, JSON): what the dataset's
files held that no row shows, e.g. `unmapped_structures` (structure file name -> images).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cosmos_bench.errors import CosmosError

INDEX_SCHEMA_VERSION = "4"
SUMMARY_KEY = "cosmos_bench.harmonize_summary"

SCHEMA = pa.schema(
    [
        ("mask_id", pa.string()),  # uid#label, uid#label@layer on layers > 0: unique per mask
        ("uid", pa.string()),  # dataset/[part/]case/slice
        ("dataset", pa.string()),
        ("part", pa.string()),  # the card's part ("" for a single-part card)
        ("case", pa.string()),
        ("split", pa.string()),  # train, val or test: a seeded hash of (dataset, case)
        ("slice", pa.string()),  # z0143 (axial), y.. (coronal), x.. (sagittal), t05-z0007, 2d
        ("modality", pa.string()),
        ("object", pa.string()),
        ("target", pa.string()),  # modality/object
        ("shard", pa.int32()),
        ("row", pa.int32()),  # image row inside the shard
        ("layer", pa.int32()),  # label layer of the image (> 0 only where masks overlap)
        ("label", pa.int32()),  # label value of the object in that layer (instance id)
        ("component", pa.int32()),  # connected-component number of a split object, else 0
        ("area_px", pa.int64()),
        ("bbox_x0", pa.int32()),  # tight box, inclusive pixel indices at stored resolution
        ("bbox_y0", pa.int32()),
        ("bbox_x1", pa.int32()),
        ("bbox_y1", pa.int32()),
        ("height", pa.int32()),  # stored image size
        ("width", pa.int32()),
        ("orig_height", pa.int32()),  # size in the source before the longest-side cap
        ("orig_width", pa.int32()),
        ("scale", pa.float64()),  # stored / original size
        ("spacing_y", pa.float64()),  # mm per stored pixel, NaN when the source has none
        ("spacing_x", pa.float64()),
        ("normalization", pa.string()),  # the intensity preset
        ("window_lo", pa.float64()),  # source intensities mapped to 0 and 255 (NaN: kept RGB)
        ("window_hi", pa.float64()),
        ("mask_filter", pa.string()),  # paper, medsam or litemedsam (cosmos_bench.masks)
    ]
)


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


def write_index(df: pd.DataFrame, path: Path, summary: dict | None = None) -> None:
    """Write the index; `summary` (JSON-able) travels in the file, so it stays with its rows."""
    meta = {"cosmos_bench.index_schema": INDEX_SCHEMA_VERSION}
    if summary is not None:
        meta[SUMMARY_KEY] = json.dumps(summary, sort_keys=True)
    write_table(df, path, SCHEMA, meta)


def read_index(path: Path) -> pd.DataFrame:
    """Read an index, refusing one written under another schema version."""
    table = pq.read_table(path)
    version = (table.schema.metadata or {}).get(b"cosmos_bench.index_schema", b"?").decode()
    if version != INDEX_SCHEMA_VERSION:
        raise CosmosError(
            f"index schema version {version}, this code reads {INDEX_SCHEMA_VERSION}",
            path=str(path),
            fix="rerun harmonization for this dataset (delete results/harmonized/<dataset>)",
        )
    return table.to_pandas()
