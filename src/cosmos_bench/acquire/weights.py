"""The weights stage of one model: fetch its checkpoint (or take the one a package ships, or the
one a user placed for gated weights) and verify it against config/models.yaml.

An entry's `weights` is one file (`url`, `sha256`) or a folder (`files`: each file's `path` in
the folder, `url` and `sha256`), as nnInteractive's model folder is; both may be `gated`, with
the instructions a user must follow, and are then taken from the manual folder
(`{manual_dir}/weights/{model}/`, under the file's name or its `path`)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from cosmos_bench.acquire.http import fetch
from cosmos_bench.acquire.sources import apply_mirrors, local_path
from cosmos_bench.catalog.zoo import load_models, models_argument
from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.core.errors import CosmosError, run_cli

MANUAL_DIR = Path("resources/manual")


def weight_files(weights: dict) -> list[dict]:
    """The files of a `weights` entry as {path, url, sha256?}: a folder's list, or one file
    named after its URL."""
    if "files" in weights:
        return weights["files"]
    name = PurePosixPath(unquote(urlsplit(weights["url"]).path)).name
    return [{"path": name, **{k: v for k, v in weights.items() if k in ("url", "sha256")}}]


def placed_weights(model: str, manual_dir: Path) -> Path:
    """The folder where a user places a model's gated weights."""
    return manual_dir / "weights" / model


def fetch_weights(
    model: str,
    root: Path,
    dest: Path,
    mirrors: dict[str, str] | None = None,
    strict: bool = False,
    models_files: Sequence[Path] = (),
    manual_dir: Path = MANUAL_DIR,
) -> dict[str, str]:
    """Fetch and verify one model's weights (the same downloader as datasets) into `dest`, a
    file or, for a folder entry, a folder written beside it and renamed when complete.

    A file without a sha256 (a hash no trustworthy source publishes) is accepted with a warning
    and its hash recorded next to `dest`, as for datasets; `strict` refuses it. Returns each
    file's sha256 by its path."""
    weights = load_models(root, models_files)[model]["weights"]
    files = weight_files(weights)
    unpinned = [f["path"] for f in files if not f.get("sha256")]
    if unpinned and strict:
        raise CosmosError(
            f"config/models.yaml pins no sha256 for {', '.join(unpinned)} and strict_checksums "
            "is on",
            dataset=f"model {model}",
            fix="add the sha256 to the model's weights entry, or turn strict_checksums off",
        )
    folder = "files" in weights
    target = dest.with_name(dest.name + ".part") if folder else dest
    if folder:
        shutil.rmtree(target, ignore_errors=True)
    hashes = {}
    for entry in files:
        source = _source(model, weights, entry, root, mirrors or {}, manual_dir)
        out = target / entry["path"] if folder else dest
        hashes[entry["path"]] = fetch(
            local_path(source) or source, out, dataset=f"model {model}",
            sha256=entry.get("sha256") or None, base_dir=root,
        )  # fmt: skip
    if folder:
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(target, dest)
    if unpinned:
        recorded = {p: hashes[p] for p in unpinned} if folder else {dest.name: hashes[unpinned[0]]}
        _record(model, dest, recorded)
    print(f"[model {model}] weights verified: {dest}", file=sys.stderr)
    return hashes


def _source(
    model: str, weights: dict, entry: dict, root: Path, mirrors: dict[str, str], manual_dir: Path
) -> str:
    """Where one file comes from: the URL after mirrors, or the user's placed copy if gated."""
    if "gated" not in weights:
        return apply_mirrors(entry["url"], mirrors)
    placed = root / placed_weights(model, manual_dir) / entry["path"]
    if not placed.is_file():
        raise CosmosError(
            f"gated weights: {placed} is missing",
            dataset=f"model {model}",
            fix=f"{' '.join(weights['gated'].split())}; then place {entry['path']} (from "
            f"{entry['url']}) at {placed} and rerun",
        )
    return str(placed)


def _record(model: str, dest: Path, hashes: dict[str, str]) -> None:
    record = dest.with_name(dest.name + ".sha256")
    write_bytes(record, "".join(f"{h}  {path}\n" for path, h in sorted(hashes.items())).encode())
    print(
        f"[model {model}] warning: config/models.yaml pins no sha256 for "
        f"{', '.join(sorted(hashes))}; recorded what was fetched in {record}. Copy it into the "
        "entry to detect changed weights next time.",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m cosmos_bench.acquire.weights --model ID --out PATH`: the weights rules."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--mirrors", type=json.loads, default={}, help="JSON prefix -> prefix")
    parser.add_argument("--manual-dir", type=Path, default=MANUAL_DIR)
    models_argument(parser)
    args = parser.parse_args(argv)
    fetch_weights(args.model, args.root, args.out, args.mirrors, args.strict, args.models_files,
                  args.manual_dir)  # fmt: skip


if __name__ == "__main__":
    run_cli(main)
