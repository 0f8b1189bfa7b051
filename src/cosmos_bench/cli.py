"""`cosmos-bench`: questions a user asks about the catalog before and during a run.

cosmos-bench datasets list            id, modality, access, licence, size of every card
cosmos-bench datasets status          downloaded / verified / unpacked / harmonized
cosmos-bench datasets explain ID      what a dataset needs from the user
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cosmos_bench.catalog import Card, load_card, load_ontology, read_yaml
from cosmos_bench.download import read_manifest
from cosmos_bench.errors import CosmosError, run_cli
from cosmos_bench.source import MANIFEST, explain

RESULTS = Path("results")


def all_cards(root: Path) -> list[Card]:
    ontology = load_ontology(root)
    return [
        load_card(root, p.stem, ontology)
        for p in sorted((root / "config" / "datasets").glob("*.yaml"))
    ]


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain aligned text table, readable in a terminal and a log."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    head = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    return "\n".join([head, "  ".join("-" * w for w in widths), *lines])


def verified(card: Card, manifest: Path) -> str:
    """Whether the recorded hashes match the card's pins ('unpinned' when it pins none)."""
    pins = card.source.get("sha256")
    if not pins:
        return "unpinned"
    seen = read_manifest(manifest)
    if isinstance(pins, str):
        pins = {next(iter(seen), ""): pins}
    return "yes" if all(seen.get(name) == sha for name, sha in pins.items()) else "MISMATCH"


def status_row(card: Card, results: Path) -> list[str]:
    manifest = results / "downloads" / card.id / MANIFEST
    downloaded = manifest.exists()
    return [
        card.id,
        "yes" if downloaded else "no",
        verified(card, manifest) if downloaded else "-",
        "yes" if (results / "raw" / card.id).is_dir() else "no",
        "yes" if (results / "harmonized" / card.id / "index.parquet").exists() else "no",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="cosmos-bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the workflow folder")
    groups = parser.add_subparsers(dest="group", required=True)
    datasets = groups.add_parser("datasets", help="the dataset catalog")
    sub = datasets.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every card: id, modality, access, licence, size")
    sub.add_parser("status", help="what is downloaded, verified, unpacked, harmonized")
    ex = sub.add_parser("explain", help="what a dataset needs from the user")
    ex.add_argument("dataset")
    args = parser.parse_args(argv)

    if args.command == "explain":
        config = read_yaml(args.root / "config" / "config.yaml")
        card = load_card(args.root, args.dataset, load_ontology(args.root))
        print(explain(card, Path(config.get("manual_dir", "resources/manual"))))
        return
    cards = all_cards(args.root)
    if not cards:
        raise CosmosError("no dataset cards", path=str(args.root / "config" / "datasets"))
    if args.command == "list":
        rows = [
            [c.id, c.modality, c.source["access"], c.raw["licence"], c.source.get("size", "?")]
            for c in cards
        ]
        print(table(rows, ["dataset", "modality", "access", "licence", "size"]))
    else:
        rows = [status_row(c, args.root / RESULTS) for c in cards]
        print(table(rows, ["dataset", "downloaded", "verified", "unpacked", "harmonized"]))


def run() -> None:
    """Console-script entry: errors print their message, not a traceback."""
    run_cli(main)


if __name__ == "__main__":
    run()
