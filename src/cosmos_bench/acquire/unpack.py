"""The unpack stage of one dataset: extract its verified archives safely into
raw/{dataset} (acquire.extract), or link a local folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path, PurePosixPath

from cosmos_bench.acquire.extract import CorruptArchiveError, link_tree, unpack_all
from cosmos_bench.acquire.manifest import read_manifest
from cosmos_bench.acquire.sources import ARCHIVES, archive_name
from cosmos_bench.catalog.cards import Card, cards_argument, load_card, load_ontology
from cosmos_bench.core.errors import CosmosError, run_cli


def unpack_source(
    card: Card, manifest: Path, raw: Path, root: Path, stored: str | None = None
) -> None:
    """Extract the verified archives (or link the verified local files) into `raw`. `stored`:
    the manifest's address in a cloud run's object store, where removing the local copy is not
    enough to fetch a damaged archive anew."""
    names = sorted(read_manifest(manifest))
    if "path" in card.source:
        link_tree((root / card.source["path"]).resolve(), raw, names)
    else:
        limits = {"max_ratio": card.source["max_ratio"]} if "max_ratio" in card.source else {}
        files = manifest.parent / ARCHIVES
        members = [(files / archive_name(e), e.get("into", "")) for e in card.source_files]
        named = {archive_name(entry) for entry in card.source_files}
        members += [  # the files of listings (acquire.listing), each into its own sub-folder
            (files / name, sub_folder(name)) for name in names if name not in named
        ]
        if missing := [str(path) for path, _ in members if not path.is_file()]:
            manifest.unlink(missing_ok=True)
            raise CosmosError(
                f"{len(missing)} downloaded file(s) missing",
                dataset=card.id,
                path=missing[0],
                fix=f"{run_again(stored)} to fetch them (or move files downloaded before into "
                f"{files}/ first)",
            )
        nested = tuple(card.source.get("nested", []))
        try:
            unpack_all(members, raw, dataset=card.id, nested=nested, **limits)
        except CorruptArchiveError as err:
            raise forget_download(card, manifest, err, stored) from err
    print(f"[{card.id}] unpacked into {raw}", file=sys.stderr)


def sub_folder(name: str) -> str:
    """The folder of a listed file's name, relative to raw/{id} ("" at the top)."""
    parent = str(PurePosixPath(name).parent)
    return "" if parent == "." else parent


def forget_download(
    card: Card, manifest: Path, err: CorruptArchiveError, stored: str | None = None
) -> CosmosError:
    """Remove a corrupt archive and the download's record of it, so that running the same
    command again fetches it anew (a hash recorded for an unpinned file proves nothing about
    its contents); the error says so, and names the source in case it is damaged there."""
    archive = Path(err.path)
    source = next((e["url"] for e in card.source_files if archive_name(e) == archive.name), None)
    archive.unlink(missing_ok=True)
    manifest.unlink(missing_ok=True)
    return CosmosError(
        err.what,
        dataset=card.id,
        path=str(archive),
        fix=f"{run_again(stored)} to fetch it anew (the damaged copy was removed). If it fails "
        f"the same way, the source itself is damaged ({source}): replace it there, or fix the "
        "card's source",
    )


def run_again(stored: str | None) -> str:
    """How to make the download run again once unpack removed its local record: nothing more
    locally; in a cloud run the record in the object store must go too (`stored`)."""
    if stored:
        return (
            f"delete the download's record {stored} (the object store keeps it), then run the "
            "same command again"
        )
    return "the download's record was removed: run the same command again"


def main(argv: list[str] | None = None) -> None:
    """`python -m cosmos_bench.acquire.unpack --dataset ID --manifest SUMS --raw DIR`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--stored", help="the manifest's address in a cloud run's object store")
    cards_argument(parser)
    args = parser.parse_args(argv)
    card = load_card(args.root, args.dataset, load_ontology(args.root), args.cards_dirs)
    unpack_source(card, args.manifest, args.raw, args.root, args.stored)


if __name__ == "__main__":
    run_cli(main)
