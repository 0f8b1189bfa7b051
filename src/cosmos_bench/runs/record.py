"""A run as another lab sees it: its record (the report's provenance.json: the config after
presets, data and weight hashes, package versions, card hashes, the scoring conventions) and
its per-mask scores, read from a results folder or an exported bundle (runs.bundle)."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from cosmos_bench.core.errors import CosmosError

RECORD = Path("report") / "provenance.json"  # inside results/
BUNDLE_RECORD = "run.json"
BUNDLE_SCORES = "scores.parquet"
BUNDLE_TABLES = "tables/"
#: the settings that define what a score means: runs differing here did not score the same
#: masks the same way (the normalization and filters make other images and masks, the
#: resolution, NSD convention and point rule other numbers); the seed, the models and the
#: datasets may differ between runs that are compared
SETTINGS = (
    "preset", "harmonize.normalization", "harmonize.clip_percentiles", "harmonize.grey_2d",
    "harmonize.rounding", "harmonize.mask_filter", "harmonize.min_mask_pixels",
    "harmonize.instance_masks", "harmonize.components", "score.resolution", "report.nsd",
    "infer.points",
)  # fmt: skip


@dataclass
class Run:
    """One run: its name (the folder or bundle), record, scores and the report's tables."""

    name: str
    record: dict
    scores: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def settings(self) -> dict[str, object]:
        return settings_of(self.record)


def settings_of(record: dict) -> dict[str, object]:
    """The SETTINGS of a record's config, by dotted name."""
    values = {}
    for key in SETTINGS:
        value: object = record.get("config", {})
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values[key] = value
    return values


def differences(a: Run, b: Run) -> list[str]:
    """Each setting, and each shared dataset's card, that differs between two runs."""
    lines = [f"{key}: {a.settings[key]!r} in {a.name}, {b.settings[key]!r} in {b.name}"
             for key in SETTINGS if a.settings[key] != b.settings[key]]  # fmt: skip
    cards_a, cards_b = a.record.get("card_sha256", {}), b.record.get("card_sha256", {})
    for dataset in sorted(set(cards_a) & set(cards_b)):
        if cards_a[dataset] != cards_b[dataset]:
            lines.append(f"card {dataset}: its file differs (sha256 {cards_a[dataset][:12]} vs "
                         f"{cards_b[dataset][:12]})")  # fmt: skip
    return lines


def results_folder(path: Path) -> Path:
    """A workflow folder's `results/`, or the results folder itself."""
    return path / "results" if (path / "results" / RECORD).is_file() else path


def load_run(path: Path) -> Run:
    """A run from a bundle (.zip) or a finished results folder; errors say what is missing."""
    path = Path(path)
    if path.is_file():
        return _from_bundle(path)
    results = results_folder(path)
    record_file = results / RECORD
    if not record_file.is_file():
        raise CosmosError(
            f"{path} is neither a run bundle nor a finished run ({record_file} is missing)",
            path=str(path),
            fix="give a bundle made by `cosmos-bench export`, or the folder of a run whose "
            "report was built (snakemake ... report)",
        )
    from cosmos_bench.report.build import load_scores

    record = json.loads(record_file.read_text())
    scores = load_scores(score_files(results, record))
    # the report's tables, when the report was built after the record (not left from before)
    made = record_file.stat().st_mtime
    tables = {p.stem: pd.read_csv(p) for p in sorted((results / "tables").glob("*.csv"))
              if p.stat().st_mtime >= made}  # fmt: skip
    name = path.resolve().name if path.name != "results" else path.resolve().parent.name
    return Run(name, record, scores, tables)


def score_files(results: Path, record: dict) -> list[Path]:
    """The score files of the record's models (fine-tuning runs too) and datasets: a folder may
    hold older runs' files beside them."""
    config = record.get("config", {})
    models = [*config.get("models", []), *config.get("finetune", {}).get("runs", [])]
    files = [results / "scores" / model / f"{dataset}.parquet"
             for model in models for dataset in config.get("datasets", [])]  # fmt: skip
    return [f for f in files if f.is_file()]


def _from_bundle(path: Path) -> Run:
    try:
        with zipfile.ZipFile(path) as bundle:
            record = json.loads(bundle.read(BUNDLE_RECORD))
            # from Arrow's own buffer: parquet read through a Python file object (the zip
            # member) leaves Arrow threads that can abort the process at exit (apache/arrow
            # #34314, #50482): `compare` exited -6 after its message under load
            scores = pd.read_parquet(pa.BufferReader(bundle.read(BUNDLE_SCORES)))
            tables = {}
            for member in bundle.namelist():
                if member.startswith(BUNDLE_TABLES) and member.endswith(".csv"):
                    with bundle.open(member) as f:
                        tables[Path(member).stem] = pd.read_csv(f)
    except (zipfile.BadZipFile, KeyError) as err:
        fix = "make bundles with `cosmos-bench export RUN_FOLDER`"
        raise CosmosError(f"{path} is not a run bundle ({err})", path=str(path), fix=fix) from err
    return Run(path.name.removesuffix(".zip"), record, scores, tables)
