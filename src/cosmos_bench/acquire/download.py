"""The download stage of one dataset: fetch every source file, verify it against the
card's pin, and write downloads/{dataset}/SHA256SUMS, the hashes of what was verified."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cosmos_bench.acquire.http import fetch, fetch_local_tree
from cosmos_bench.acquire.manifest import write_manifest
from cosmos_bench.acquire.sources import (
    GATED,
    MANIFEST,
    Fetching,
    apply_mirrors,
    archive_name,
    explain,
    manual_file,
)
from cosmos_bench.catalog.cards import Card, cards_argument, load_card, load_ontology, pin_of
from cosmos_bench.core.errors import ChecksumError, ConfigError, CosmosError, run_cli


def _warn_unpinned(card: Card, manifest: Path) -> None:
    why = (
        "no checksum of it is published"
        if card.checksum == "unpublished"
        else "the card pins no checksum"
    )
    print(
        f"[{card.id}] warning: {why}; recorded the sha256 of what was downloaded in "
        f"{manifest}. Pin it in the card (checksum_source: where you got the file) to detect a "
        "changed or corrupt source next time.",
        file=sys.stderr,
    )


def archive_location(card: Card, entry: dict, fetching: Fetching, root: Path) -> str:
    """The URL or file to fetch one source file from, after mirrors and the manual folder."""
    if card.source["access"] in GATED:
        placed = root / manual_file(card, entry, fetching.manual_dir)
        if not placed.exists():
            raise CosmosError(
                f"a gated dataset: {placed} is missing",
                dataset=card.id,
                fix=explain(card, fetching.manual_dir) + "\n  and rerun; see "
                f"`cosmos-bench datasets explain {card.id}`",
            )
        return str(placed)
    return apply_mirrors(entry["url"], fetching.mirrors)


def _fetch_file(card: Card, entry: dict, out_dir: Path, root: Path, fetching: Fetching) -> str:
    """Fetch one source file; a refusal or login page also repeats the card's instructions."""
    instructions = card.source.get("instructions")
    try:
        return fetch(
            archive_location(card, entry, fetching, root),
            out_dir / archive_name(entry),
            dataset=card.id,
            sha256=entry.get("sha256") or None,
            md5=entry.get("md5") or None,
            base_dir=root,
        )
    except ChecksumError:
        raise
    except CosmosError as err:
        if not instructions:
            raise
        fix = f"{err.fix}\n  the card says: {instructions}"
        raise CosmosError(err.what, dataset=card.id, path=err.path, fix=fix) from err


def download(card: Card, out_dir: Path, root: Path, fetching: Fetching = Fetching()) -> Path:
    """Fetch and verify the card's source; write and return its SHA256SUMS manifest."""
    source = card.source
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST
    if "path" in source:
        pinned = source.get("sha256") or None
        if isinstance(pinned, str):
            raise ConfigError(
                "a local-folder source pins sha256 as a map of file name -> hash",
                dataset=card.id,
                fix="write source.sha256 as {file: hash, ...} or leave it empty",
            )
        unpinned = not pinned
        _check_strict(card, fetching, unpinned)
        hashes = fetch_local_tree(root / source["path"], dataset=card.id, sha256s=pinned)
    else:
        unpinned = not all(pin_of(entry) for entry in card.source_files)
        _check_strict(card, fetching, unpinned)
        hashes = {
            archive_name(entry): _fetch_file(card, entry, out_dir, root, fetching)
            for entry in card.source_files
        }
    write_manifest(manifest, hashes)
    if unpinned:
        _warn_unpinned(card, manifest)
    return manifest


def _check_strict(card: Card, fetching: Fetching, unpinned: bool) -> None:
    if fetching.strict and unpinned:
        why = (
            "no checksum of its source is published (checksum: unpublished)"
            if card.checksum == "unpublished"
            else "the card pins no sha256 or md5 for some source file"
        )
        raise ConfigError(
            f"{why} and strict_checksums is on",
            dataset=card.id,
            fix="pin the sha256 of a copy you trust in the card's source, or turn "
            "strict_checksums off",
        )


def main(argv: list[str] | None = None) -> None:
    """`python -m cosmos_bench.acquire.download --dataset ID --out-dir DIR`: the download rule."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--manual-dir", type=Path, default=Fetching.manual_dir)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    cards_argument(parser)
    parser.add_argument("--mirrors", type=json.loads, default={}, help="JSON prefix -> prefix")
    args = parser.parse_args(argv)
    card = load_card(args.root, args.dataset, load_ontology(args.root), args.cards_dirs)
    download(card, args.out_dir, args.root, Fetching(args.mirrors, args.manual_dir, args.strict))


if __name__ == "__main__":
    run_cli(main)
