"""The weights stage of one model: fetch its checkpoint (or take the one a package
ships) and verify it against config/models.yaml."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from cosmos_bench.acquire.http import fetch
from cosmos_bench.acquire.sources import apply_mirrors, local_path
from cosmos_bench.catalog.zoo import load_models, models_argument
from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.core.errors import CosmosError, run_cli


def fetch_weights(
    model: str,
    root: Path,
    dest: Path,
    mirrors: dict[str, str] | None = None,
    strict: bool = False,
    models_files: Sequence[Path] = (),
) -> str:
    """Fetch and verify one model's weights (the same downloader as datasets).

    An entry without a sha256 (a hash no trustworthy source publishes) is accepted once with a
    warning and its hash recorded next to the file, as for datasets; `strict` refuses it."""
    weights = load_models(root, models_files)[model]["weights"]
    pinned = weights.get("sha256") or None
    if pinned is None and strict:
        raise CosmosError(
            "config/models.yaml pins no sha256 for these weights and strict_checksums is on",
            dataset=f"model {model}",
            fix="add weights.sha256 to the model's entry, or turn strict_checksums off",
        )
    url = apply_mirrors(weights["url"], mirrors or {})
    actual = fetch(
        local_path(url) or url, dest, dataset=f"model {model}", sha256=pinned, base_dir=root
    )
    if pinned is None:
        record = dest.with_name(dest.name + ".sha256")
        write_bytes(record, f"{actual}  {dest.name}\n".encode())
        print(
            f"[model {model}] warning: config/models.yaml pins no sha256; recorded {actual} in "
            f"{record}. Copy it into the entry to detect changed weights next time.",
            file=sys.stderr,
        )
    print(f"[model {model}] weights verified: {dest}", file=sys.stderr)
    return actual


def main(argv: list[str] | None = None) -> None:
    """`python -m cosmos_bench.acquire.weights --model ID --out FILE`: the weights rule."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--mirrors", type=json.loads, default={}, help="JSON prefix -> prefix")
    models_argument(parser)
    args = parser.parse_args(argv)
    fetch_weights(args.model, args.root, args.out, args.mirrors, args.strict, args.models_files)


if __name__ == "__main__":
    run_cli(main)
