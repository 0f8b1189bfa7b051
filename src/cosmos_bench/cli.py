"""`cosmos-bench`: questions a user asks about the catalog before and during a run.

cosmos-bench datasets list [--all]    the 53 COSMOS cards (--all: every card): id, modalities,
                                      targets, access, licence, size, confidence, checksum
cosmos-bench datasets summary [--all] datasets / modalities / objects / targets vs the paper;
                                      images and masks of what is harmonized
cosmos-bench datasets status          downloaded / verified / unpacked / harmonized
cosmos-bench datasets explain ID      what a dataset needs from the user
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cosmos_bench.acquire.manifest import read_manifest
from cosmos_bench.acquire.sources import MANIFEST, archive_name, explain
from cosmos_bench.catalog.cards import (
    PAPER_COUNTS,
    PAPER_TOTALS,
    Card,
    all_cards,
    cosmos_ids,
    counts,
    load_card,
    load_ontology,
)
from cosmos_bench.catalog.schema import read_yaml
from cosmos_bench.core.errors import CosmosError, run_cli
from cosmos_bench.harmonize.index import index_counts

RESULTS = Path("results")


def selected(root: Path, every: bool) -> list[Card]:
    """Every card, or the COSMOS ones in the paper's order."""
    cards = {c.id: c for c in all_cards(root)}
    if every:
        return list(cards.values())
    return [cards[d] for d in cosmos_ids(root)]


def list_row(card: Card) -> list[str]:
    return [
        str(card.raw.get("cosmos", "-")),
        card.id,
        ",".join(card.modalities) or "(unresolved)",
        str(len(card.targets)),
        card.source["access"],
        card.raw["licence"][:28],
        card.source.get("size", "?"),
        card.raw.get("confidence", "high"),
        card.checksum,
    ]


def summary(cards: list[Card]) -> str:
    ours = counts(cards)
    lines = [f"{'':12}{'cards':>8}{'paper':>8}"]
    lines += [f"{k:12}{ours[k]:>8}{PAPER_COUNTS[k]:>8}" for k in PAPER_COUNTS]
    by_modality: dict[str, set[str]] = {}
    for card in cards:
        for target in card.targets:
            modality, obj = target.split("/")
            by_modality.setdefault(modality, set()).add(obj)
    lines.append("\ntargets per modality:")
    lines += [f"  {m:20} {len(o):>3}" for m, o in sorted(by_modality.items())]
    unusable = [c for c in cards if "unresolved" in c.raw]
    if unusable:
        lines.append(f"\nunusable cards, counted apart ({len(unusable)}: no masks to harmonize):")
        lines += [f"  {c.id}: {' '.join(c.raw['unresolved'].split())[:160]}" for c in unusable]
    return "\n".join(lines)


def harmonized_summary(cards: list[Card], results: Path) -> str:
    """Images and masks of every harmonized dataset beside the paper's totals (its per-dataset
    counts, Table 1, are not public)."""
    rows, images, masks = [], 0, 0
    for card in cards:
        index = results / "harmonized" / card.id / "index.parquet"
        if index.exists():
            n_images, n_masks = index_counts(index)
            images, masks = images + n_images, masks + n_masks
            rows.append([card.id, f"{n_images:,}", f"{n_masks:,}"])
    if not rows:
        return f"\nno dataset harmonized yet under {results}/harmonized"
    rows.append([f"total ({len(rows)} datasets)", f"{images:,}", f"{masks:,}"])
    rows.append(["COSMOS 1050K (paper)", *(f"{PAPER_TOTALS[k]:,}" for k in ("images", "masks"))])
    return "\nharmonized so far:\n" + table(rows, ["dataset", "images", "masks"])


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain aligned text table, readable in a terminal and a log."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    head = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    return "\n".join([head, "  ".join("-" * w for w in widths), *lines])


def verified(card: Card, manifest: Path) -> str:
    """Whether the recorded hashes match the card's pins ('unpinned' when it pins none). An
    md5-only pin was checked by the download itself (the manifest records sha256s)."""
    if card.checksum in ("none", "unpublished"):
        return "unpinned"
    pins = card.source.get("sha256") if "path" in card.source else None
    if "path" not in card.source:
        pins = {archive_name(e): e["sha256"] for e in card.source_files if e.get("sha256")}
    seen = read_manifest(manifest)
    if not all(seen.get(name) == sha for name, sha in (pins or {}).items()):
        return "MISMATCH"
    return "yes (md5 at download)" if card.checksum == "md5" else "yes"


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
    for name, what in (("list", "the cards, one row each"), ("summary", "catalog counts")):
        cmd = sub.add_parser(name, help=what)
        cmd.add_argument("--all", action="store_true", help="every card, not only COSMOS")
    sub.add_parser("status", help="what is downloaded, verified, unpacked, harmonized")
    ex = sub.add_parser("explain", help="what a dataset needs from the user")
    ex.add_argument("dataset")
    args = parser.parse_args(argv)

    if args.command == "explain":
        config = read_yaml(args.root / "config" / "config.yaml")
        card = load_card(args.root, args.dataset, load_ontology(args.root))
        print(explain(card, Path(config.get("manual_dir", "resources/manual"))))
        return
    cards = selected(args.root, getattr(args, "all", True))
    if not cards:
        raise CosmosError("no dataset cards", path=str(args.root / "config" / "datasets"))
    if args.command == "list":
        header = ["#", "dataset", "modalities", "targets", "access", "licence", "size", "conf."]
        header.append("checksum")
        print(table([list_row(c) for c in cards], header))
        print(f"{len(cards)} cards")
    elif args.command == "summary":
        print(summary(cards))
        print(harmonized_summary(cards, args.root / RESULTS))
    else:
        rows = [status_row(c, args.root / RESULTS) for c in cards]
        print(table(rows, ["dataset", "downloaded", "verified", "unpacked", "harmonized"]))


def run() -> None:
    """Console-script entry: errors print their message, not a traceback."""
    run_cli(main)


if __name__ == "__main__":
    run()
