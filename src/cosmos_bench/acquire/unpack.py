"""The unpack stage of one dataset: extract its verified archives safely into
raw/{dataset} (acquire.extract), or link a local folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cosmos_bench.acquire.extract import link_tree, unpack_all
from cosmos_bench.acquire.manifest import read_manifest
from cosmos_bench.acquire.sources import archive_name
from cosmos_bench.catalog.cards import Card, load_card, load_ontology
from cosmos_bench.core.errors import run_cli


def unpack_source(card: Card, manifest: Path, raw: Path, root: Path) -> None:
    """Extract the verified archives (or link the verified local files) into `raw`."""
    names = sorted(read_manifest(manifest))
    if "path" in card.source:
        link_tree((root / card.source["path"]).resolve(), raw, names)
    else:
        limits = {"max_ratio": card.source["max_ratio"]} if "max_ratio" in card.source else {}
        members = [
            (manifest.parent / archive_name(entry), entry.get("into", ""))
            for entry in card.source_files
        ]
        nested = tuple(card.source.get("nested", []))
        unpack_all(members, raw, dataset=card.id, nested=nested, **limits)
    print(f"[{card.id}] unpacked into {raw}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """`python -m cosmos_bench.acquire.unpack --dataset ID --manifest SUMS --raw DIR`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    card = load_card(args.root, args.dataset, load_ontology(args.root))
    unpack_source(card, args.manifest, args.raw, args.root)


if __name__ == "__main__":
    run_cli(main)
