"""The datasets lock: what a verified run downloaded, committed by a lab so every later run, on
any machine, gets the same bytes (pip's hash-checking mode, conda-lock and pooch's registry
are the models).

The download stage records how it verified each file in `downloads/{id}/VERIFIED.json`
(`record_verification`); `cosmos-bench datasets lock` gathers those records into the lockfile
(`datasets.lock` at the workflow's root, the config's `lockfile`); a later download checks each
file it fetches against the file's locked sha256 and says which file differs and both hashes.
A manual (registration) archive is locked by its name in the manual folder, like any other.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import yaml

from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.core.errors import ChecksumError, ConfigError

RECORD = "VERIFIED.json"
LOCK_VERSION = 1
#: where the lock lives in a workflow folder unless the config's `lockfile` says otherwise
LOCKFILE = "datasets.lock"


def record_verification(out_dir: Path, files: dict[str, dict]) -> None:
    """Write what the download verified: per file its source, size, sha256, methods, date."""
    text = json.dumps({"files": files}, indent=1, sort_keys=True) + "\n"
    write_bytes(out_dir / RECORD, text.encode())


def read_verification(out_dir: Path) -> dict[str, dict]:
    """A download's record of its files (empty before the stage ran)."""
    path = out_dir / RECORD
    return json.loads(path.read_text())["files"] if path.exists() else {}


def file_record(source: str, path: Path, sha256: str, methods: list[str]) -> dict:
    """One file's entry, as the record and the lock hold it."""
    return {
        "source": source,
        "size": path.stat().st_size,
        "sha256": sha256,
        "verified": sorted(methods) or ["none"],
        "date": datetime.date.today().isoformat(),
    }


def read_lock(path: Path) -> dict[str, dict[str, dict]]:
    """dataset -> file name -> locked entry; empty when there is no lockfile."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if data.get("version") != LOCK_VERSION or not isinstance(data.get("datasets"), dict):
        raise ConfigError(
            f"{path} is not a cosmos-bench datasets lock (version {LOCK_VERSION})",
            fix="regenerate it with `cosmos-bench datasets lock` after a verified run",
        )
    return data["datasets"]


def write_lock(path: Path, results: Path, datasets: list[str] | None = None) -> dict[str, int]:
    """Lock the verified downloads under `results` (all, or `datasets`), keeping the other
    datasets' entries already in the lockfile; returns dataset -> files locked."""
    locked = read_lock(path)
    downloads = results / "downloads"
    found = sorted(p.parent.name for p in downloads.glob(f"*/{RECORD}"))
    wanted = found if datasets is None else datasets
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise ConfigError(
            f"no verified download of {', '.join(missing)} under {downloads}",
            fix="run the workflow's download step for them first (snakemake --until download)",
        )
    counts = {}
    for dataset in wanted:
        files = read_verification(downloads / dataset)
        unverified = sorted(n for n, f in files.items() if f["verified"] == ["none"])
        if unverified:
            print(
                f"[{dataset}] warning: locking {', '.join(unverified)} as first downloaded: no "
                "pin or publisher checksum verified them; check them before you commit the lock",
                file=sys.stderr,
            )
        locked[dataset] = files
        counts[dataset] = len(files)
    header = (
        "# cosmos-bench datasets lock: the sha256 of every file a verified run downloaded.\n"
        "# Commit it; downloads are checked against it (docs/catalog.md). Regenerate with\n"
        "# `cosmos-bench datasets lock`.\n"
    )
    body = yaml.safe_dump({"version": LOCK_VERSION, "datasets": locked}, sort_keys=True)
    write_bytes(path, (header + body).encode())
    return counts


def check_locked(dataset: str, name: str, actual: str, locked: dict | None, lockfile: str) -> None:
    """A fetched file against its locked sha256 (nothing to check when it is not locked)."""
    if locked and locked["sha256"] != actual:
        raise ChecksumError(
            dataset=dataset,
            path=f"{name} (locked in {lockfile} on {locked.get('date', '?')})",
            expected=locked["sha256"],
            actual=actual,
            fix="the source changed since the lock was written: compare the new file with the "
            "old one, then rerun `cosmos-bench datasets lock` for this dataset only if you "
            "trust the new one",
        )
