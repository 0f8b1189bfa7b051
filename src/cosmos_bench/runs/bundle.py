"""One compact, shareable file per run: the record, every per-mask score and the report's
tables (no image, no prediction), which `compare` and `leaderboard` read like a run folder."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.runs.record import BUNDLE_RECORD, BUNDLE_SCORES, BUNDLE_TABLES, load_run

#: a fixed member timestamp, so one run exported twice gives the same bytes
_EPOCH = (1980, 1, 1, 0, 0, 0)


def export(run_folder: Path, out: Path) -> Path:
    """Write the run's bundle to `out` (atomically); returns it."""
    run = load_run(run_folder)
    scores = io.BytesIO()
    run.scores.to_parquet(scores, index=False)
    members = {
        BUNDLE_RECORD: json.dumps(run.record, indent=2, sort_keys=True).encode(),
        BUNDLE_SCORES: scores.getvalue(),
        **{f"{BUNDLE_TABLES}{name}.csv": table.to_csv(index=False).encode()
           for name, table in sorted(run.tables.items())},
    }  # fmt: skip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(zipfile.ZipInfo(name, _EPOCH), data, zipfile.ZIP_DEFLATED)
    write_bytes(out, buffer.getvalue())
    return out
