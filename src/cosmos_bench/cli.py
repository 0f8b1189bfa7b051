"""`cosmos-bench`: questions a user asks about the catalog before and during a run.

cosmos-bench datasets list [--all]    the 53 COSMOS cards (--all: every card): id, modalities,
                                      targets, access, licence, size, confidence, checksum
cosmos-bench datasets summary [--all] datasets / modalities / objects / targets vs the paper;
                                      images and masks of what is harmonized
cosmos-bench datasets status          manual archive placed / downloaded / verified / unpacked /
                                      harmonized, for every card
cosmos-bench datasets lock [ID...]    lock the verified downloads (datasets.lock): later runs,
                                      on any machine, must download the same bytes
cosmos-bench datasets explain ID      what a dataset needs from the user
cosmos-bench datasets check ID        read every case before harmonizing: every problem at
                                      once (unreadable files, sizes, unmapped label values,
                                      images without labels, empty masks) with its card fix
cosmos-bench compare A B              two runs (folders or bundles) on the masks both scored:
                                      Dice/NSD per target and strategy, paired deltas, CIs
cosmos-bench export RUN               one run as a shareable bundle (record, scores, tables)
cosmos-bench leaderboard RUN...       one HTML page ranking runs per target and strategy

Filters (list, summary, status): --modality CT, --access open|registration|request|...,
--verified (every file pinned or publisher-verified), --cosmos (the paper's 53: list's and
summary's default).
--json prints the same answers as JSON. Run from any folder inside the repository, or name it
with --root; --cards-dir DIR adds a folder of your own cards. A card that cannot be read is one
row with its error; the others are listed.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cosmos_bench.acquire.lock import LOCKFILE, write_lock
from cosmos_bench.acquire.sources import explain
from cosmos_bench.acquire.status import status_record
from cosmos_bench.catalog.cards import (
    PAPER_COUNTS,
    PAPER_TOTALS,
    Card,
    counts,
    load_card,
    load_ontology,
    read_cards,
)
from cosmos_bench.catalog.schema import read_yaml
from cosmos_bench.core.errors import ConfigError, CosmosError, run_cli
from cosmos_bench.runs import commands as run_commands
from cosmos_bench.store.index import index_counts

RESULTS = Path("results")
CARDS = Path("config") / "datasets"
WIDTH = 100  # every line fits a terminal of this many columns
KEEP = ("#", "dataset")  # table columns never cut: a user copies the ids


def find_root(start: Path) -> Path:
    """The repository folder holding `start` (the first parent with workflow/Snakefile and
    config/datasets), so the commands work from any folder inside it."""
    for folder in (start, *start.parents):
        if (folder / "workflow" / "Snakefile").is_file() and (folder / CARDS).is_dir():
            return folder
    raise CosmosError(
        f"{start} is not inside a cosmos-bench repository (no workflow/Snakefile and "
        "config/datasets above it)",
        fix="run the command from the repository, or name it: cosmos-bench --root PATH ...",
    )


def selected(
    root: Path, args: argparse.Namespace, dirs: list[str]
) -> tuple[list[Card], dict[str, ConfigError]]:
    """The cards the filters keep (for list and summary the COSMOS ones in the paper's order
    unless --all; status shows every card), and the error of every card that could not be
    read."""
    cards, errors = read_cards(root, dirs)
    if args.cosmos or not (args.all or args.command == "status"):
        cards = sorted((c for c in cards if c.raw.get("cosmos")), key=lambda c: c.raw["cosmos"])
    if args.modality:
        cards = [c for c in cards if args.modality in c.modalities]
    if args.access:
        cards = [c for c in cards if c.source["access"] == args.access]
    if args.verified:
        cards = [c for c in cards if c.verified]
    return cards, errors


def list_record(card: Card) -> dict[str, Any]:
    return {
        "cosmos": card.raw.get("cosmos"),
        "dataset": card.id,
        "modalities": card.modalities,
        "targets": len(card.targets),
        "access": card.source["access"],
        "licence": card.raw["licence"],
        "size": card.source.get("size"),
        "confidence": card.raw.get("confidence", "high"),
        "checksum": card.checksum,
        "unresolved": "unresolved" in card.raw,
    }


def list_row(record: dict[str, Any]) -> list[str]:
    return [
        str(record["cosmos"] or "-"),
        record["dataset"],
        ",".join(record["modalities"]) or "(unresolved)",
        str(record["targets"]),
        record["access"],
        record["licence"],
        record["size"] or "?",
        record["confidence"],
        record["checksum"],
    ]


def summary_record(cards: list[Card], results: Path) -> dict[str, Any]:
    """The catalog's counts beside the paper's, targets per modality, unusable cards, and the
    images and masks of every harmonized dataset (the paper's per-dataset counts, Table 1,
    are not public)."""
    by_modality: dict[str, set[str]] = {}
    for card in cards:
        for target in card.targets:
            modality, obj = target.split("/")
            by_modality.setdefault(modality, set()).add(obj)
    harmonized = {}
    for card in cards:
        index = results / "harmonized" / card.id / "index.parquet"
        if index.exists():
            n_images, n_masks = index_counts(index)
            harmonized[card.id] = {"images": n_images, "masks": n_masks}
    return {
        "cards": counts(cards),
        "paper": PAPER_COUNTS,
        "targets_per_modality": {m: len(o) for m, o in sorted(by_modality.items())},
        "unusable": {c.id: " ".join(c.raw["unresolved"].split()) for c in cards
                     if "unresolved" in c.raw},  # fmt: skip
        "harmonized": harmonized,
        "paper_totals": PAPER_TOTALS,
    }


def summary_text(record: dict[str, Any], results: Path, scope: str) -> str:
    ours = record["cards"]
    lines = [f"{'':12}{'cards':>8}{'paper':>8}"]
    lines += [f"{k:12}{ours[k]:>8}{PAPER_COUNTS[k]:>8}" for k in PAPER_COUNTS]
    lines.append("\ntargets per modality:")
    lines += [f"  {m:20} {n:>3}" for m, n in record["targets_per_modality"].items()]
    if record["unusable"]:
        lines.append(f"\nunusable cards, counted apart ({len(record['unusable'])}: no masks to "
                     "harmonize):")  # fmt: skip
        lines += [clip(f"  {d}: {why}") for d, why in record["unusable"].items()]
    done = record["harmonized"]
    if not done:
        lines.append(f"\nnone of {scope} is harmonized yet under {results}/harmonized")
        return "\n".join(lines)
    rows = [[d, f"{n['images']:,}", f"{n['masks']:,}"] for d, n in done.items()]
    images = sum(n["images"] for n in done.values())
    masks = sum(n["masks"] for n in done.values())
    rows.append([f"total ({len(rows)} datasets)", f"{images:,}", f"{masks:,}"])
    rows.append(["COSMOS 1050K (paper)", *(f"{PAPER_TOTALS[k]:,}" for k in ("images", "masks"))])
    lines.append("\nharmonized so far:\n" + table(rows, ["dataset", "images", "masks"]))
    return "\n".join(lines)


def wrap(text: str, width: int = WIDTH) -> str:
    """Each line of `text` wrapped to `width` columns, continuation lines indented."""
    return "\n".join(
        textwrap.fill(line, width, subsequent_indent=" " * (len(line) - len(line.lstrip()) + 2),
                      break_on_hyphens=False, break_long_words=False)  # fmt: skip
        for line in text.splitlines()
    )


def clip(text: str, width: int = WIDTH) -> str:
    """One line cut to `width` columns, with an ellipsis where it was cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def table(
    rows: list[list[str]], header: list[str], width: int = WIDTH, keep: tuple[str, ...] = KEEP
) -> str:
    """A plain aligned text table, readable in a terminal and a log, at most `width` columns:
    the widest columns give way first and their cells end with an ellipsis; the `keep` columns
    (the ids) are never cut."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    shrinkable = [i for i, h in enumerate(header) if h not in keep]
    while sum(widths) + 2 * (len(widths) - 1) > width and max(widths[i] for i in shrinkable) > 4:
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1

    def line(cells: list[str]) -> str:
        fitted = [clip(str(c), w).ljust(w) for c, w in zip(cells, widths, strict=True)]
        return "  ".join(fitted).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def error_lines(errors: dict[str, ConfigError]) -> list[str]:
    """One line per card that could not be read: its id and its error, after the table."""
    return [clip(f"! {d}: error: {' '.join(e.what.split())}") for d, e in errors.items()]


def as_json(errors: dict[str, ConfigError]) -> dict[str, str]:
    return {dataset: str(err) for dataset, err in errors.items()}


def explain_text(card: Card, manual_dir: Path) -> str:
    """What the user must do, and whether a run can use the card at all."""
    if "unresolved" in card.raw:
        why = " ".join(card.raw["unresolved"].split())
        return f"{card.id}: unresolved, left out of every run: {why}"
    return explain(card, manual_dir)


def check_command(root: Path, card: Card, args: argparse.Namespace) -> None:
    """`datasets check`: every problem of every case; exit status 1 when there is one."""
    from cosmos_bench.harmonize.check import check_dataset, report_lines  # reads images

    local = card.source.get("path")
    raw = args.raw or (root / local if local else root / RESULTS / "raw" / card.id)
    report = check_dataset(card, raw.resolve())
    if args.json:
        print(json.dumps({"dataset": card.id, "raw": str(raw), **asdict(report)}))
    else:
        print("\n".join(wrap(line) for line in report_lines(card.id, report)))
    if report.problems:
        raise SystemExit(1)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="cosmos-bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--root", type=Path, help="the repository (default: the one around here)")
    top.add_argument(
        "--cards-dir", dest="cards_dirs", action="append", default=[],
        help="a folder of your own cards, besides config/datasets and config.yaml's cards_dirs",
    )  # fmt: skip
    groups = top.add_subparsers(dest="group", required=True)
    datasets = groups.add_parser("datasets", help="the dataset catalog")
    sub = datasets.add_subparsers(dest="command", required=True)
    commands = {"list": "the cards, one row each", "summary": "catalog counts",
                "status": "what is downloaded, verified, unpacked, harmonized"}  # fmt: skip
    for name, what in commands.items():
        cmd = sub.add_parser(name, help=what)
        cmd.add_argument("--all", action="store_true", help="every card, not only COSMOS")
        cmd.add_argument("--cosmos", action="store_true", help="only the paper's 53 (default)")
        cmd.add_argument("--modality", help="only cards with this modality, e.g. CT")
        cmd.add_argument("--access", help="only this access: open, registration, request, ...")
        cmd.add_argument("--verified", action="store_true",
                         help="only cards whose files are all pinned or publisher-verified")
        cmd.add_argument("--json", action="store_true", help="print JSON")
    lock = sub.add_parser("lock", help="lock the verified downloads: the sha256 of every file")
    lock.add_argument("datasets", nargs="*", help="only these (default: every download)")
    lock.add_argument("--out", type=Path, help="the lockfile (default: the config's lockfile)")
    ex = sub.add_parser("explain", help="what a dataset needs from the user")
    ex.add_argument("dataset")
    ex.add_argument("--json", action="store_true", help="print JSON")
    check = sub.add_parser("check", help="read every case before harmonizing; list all problems")
    check.add_argument("dataset")
    check.add_argument("--raw", type=Path, help="the data folder (default: the card's local "
                       "source folder, else results/raw/ID)")  # fmt: skip
    check.add_argument("--json", action="store_true", help="print JSON")
    run_commands.add_parsers(groups)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.group in run_commands.COMMANDS:
        run_commands.main(args)
        return
    root = args.root.resolve() if args.root else find_root(Path.cwd().resolve())
    if not (root / CARDS).is_dir():
        raise CosmosError(
            f"no dataset cards under {root / CARDS}",
            fix="name the repository's folder: cosmos-bench --root PATH ...",
        )
    config = read_yaml(root / "config" / "config.yaml")
    manual_dir = root / config.get("manual_dir", "resources/manual")
    typed = [str(Path(d).expanduser().resolve()) for d in args.cards_dirs]  # relative to here
    dirs = [*config.get("cards_dirs", []), *typed]
    if args.command == "check":
        check_command(root, load_card(root, args.dataset, load_ontology(root), dirs), args)
        return
    if args.command == "lock":
        out = args.out or root / config.get("lockfile", LOCKFILE)
        counts = write_lock(out, root / RESULTS, args.datasets or None)
        print(f"{out}: {sum(counts.values())} files of {len(counts)} datasets locked")
        return
    if args.command == "explain":
        card = load_card(root, args.dataset, load_ontology(root), dirs)
        text = explain_text(card, manual_dir.relative_to(root))
        print(json.dumps({"dataset": card.id, "explain": text}) if args.json else wrap(text))
        return
    cards, errors = selected(root, args, dirs)
    if not cards and not errors:
        raise CosmosError("no dataset card matches", path=str(root / CARDS))
    results = root / RESULTS
    if args.command == "list":
        records = [list_record(c) for c in cards]
        if args.json:
            print(json.dumps({"cards": records, "errors": as_json(errors)}))
            return
        header = ["#", "dataset", "modalities", "tgt", "access", "licence", "size", "conf.",
                  "checksum"]  # fmt: skip
        print(table([list_row(r) for r in records], header))
        print("\n".join(error_lines(errors)) if errors else "", end="\n" if errors else "")
        print(f"{len(cards)} cards" + (f", {len(errors)} unreadable" if errors else ""))
    elif args.command == "summary":
        record = summary_record(cards, results)
        if args.json:
            print(json.dumps({**record, "errors": as_json(errors)}))
            return
        scope = "the selected cards" if (args.all or args.modality or args.access) else "COSMOS"
        print(summary_text(record, results.relative_to(root), scope))
        for line in error_lines(errors):
            print(line)
    else:
        records = [status_record(c, results, manual_dir) for c in cards]
        if args.json:
            print(json.dumps({"datasets": records, "errors": as_json(errors)}))
            return
        header = ["dataset", "manual", "downloaded", "verified", "unpacked", "harmonized"]
        print(table([list(r.values()) for r in records], header))
        for line in error_lines(errors):
            print(line)


def run() -> None:
    """Console-script entry: errors print their message, not a traceback."""
    run_cli(main)


if __name__ == "__main__":
    run()
