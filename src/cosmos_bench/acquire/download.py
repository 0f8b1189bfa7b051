"""The download stage of one dataset: fetch every source file into downloads/{dataset}/files/,
verify it, and write downloads/{dataset}/SHA256SUMS (the hashes of what was accepted) and
VERIFIED.json (how each file was verified: the card's pin, its host's published checksum, the
lab's lock).

Verification, strongest first: a sha256 or md5 the card pins; the checksum the file's host
publishes through its API (`checksum: publisher`, acquire.publisher), read at download time;
the lockfile's sha256 (acquire.lock), checked besides either. Under `strict_checksums` a file
none of them covers is refused before anything is fetched, and an unreachable publisher API is
an error (a warning otherwise)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cosmos_bench.acquire.http import fetch, fetch_local_tree
from cosmos_bench.acquire.listing import expand
from cosmos_bench.acquire.lock import (
    LOCKFILE,
    check_locked,
    file_record,
    read_lock,
    record_verification,
)
from cosmos_bench.acquire.manifest import write_manifest
from cosmos_bench.acquire.publisher import (
    PublisherError,
    check_commit_archive,
    get_json,
    published,
)
from cosmos_bench.acquire.sources import (
    ARCHIVES,
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


@dataclass(frozen=True)
class Locked:
    """The lockfile's entries for one dataset (file name -> entry) and the file's name."""

    files: dict[str, dict] = field(default_factory=dict)
    lockfile: str = LOCKFILE


def _warn_unverified(card: Card, names: list[str], manifest: Path) -> None:
    why = (
        "no checksum of it is published"
        if card.checksum == "unpublished"
        else "no pin, publisher checksum or lock covers it"
    )
    print(
        f"[{card.id}] warning: {', '.join(names)}: {why}; recorded the sha256 of what was "
        f"downloaded in {manifest}. Pin it in the card, or lock it (`cosmos-bench datasets "
        "lock`), to detect a changed or corrupt source next time.",
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


def by_publisher(card: Card, entry: dict) -> bool:
    """Whether a file is verified by its host's API: unpinned, and the card says so."""
    return not pin_of(entry) and (
        card.source.get("checksum") == "publisher" or "publisher" in entry or "api" in entry
    )


def _publisher(card: Card, entry: dict, name: str, strict: bool, answers: dict):
    """The host's checksum of the file; None (with a warning) when its API says nothing and
    strict_checksums is off."""
    try:
        return published(entry, name, card.id, answers)
    except PublisherError as err:
        if strict:
            raise CosmosError(
                f"{name}: {err.what}",
                dataset=card.id,
                path=err.path,
                fix="retry when the host answers, pin the file's sha256 in the card, or lock "
                "it (`cosmos-bench datasets lock`); strict_checksums accepts nothing less",
            ) from err
        print(f"[{card.id}] warning: {err.what} ({err.path}); not verified", file=sys.stderr)
        return None


def _fetch_file(
    card: Card,
    entry: dict,
    out_dir: Path,
    root: Path,
    fetching: Fetching,
    locked: Locked,
    answers: dict,
) -> dict:
    """Fetch and verify one source file; a refusal or login page also repeats the card's
    instructions. Returns its verification record."""
    name = archive_name(entry)
    host = None
    if by_publisher(card, entry):
        host = _publisher(card, entry, name, fetching.strict, answers)
    sha256, md5 = entry.get("sha256") or None, entry.get("md5") or None
    if host is not None and host.algorithm in ("sha256", "md5"):
        sha256, md5 = (host.digest, None) if host.algorithm == "sha256" else (None, host.digest)
    location = archive_location(card, entry, fetching, root)
    dest = out_dir / ARCHIVES / name
    dest.parent.mkdir(parents=True, exist_ok=True)  # a listed file keeps its sub-folders
    try:
        actual = fetch(location, dest, dataset=card.id, sha256=sha256, md5=md5, base_dir=root)
    except ChecksumError:
        raise
    except CosmosError as err:
        if not (instructions := card.source.get("instructions")):
            raise
        fix = f"{err.fix}\n  the card says: {instructions}"
        raise CosmosError(err.what, dataset=card.id, path=err.path, fix=fix) from err
    try:
        if host is not None and host.algorithm == "git-tree":
            check_commit_archive(dest, host.digest, card.id, entry["url"])
        check_locked(card.id, name, actual, locked.files.get(name), locked.lockfile)
    except ChecksumError:
        dest.unlink(missing_ok=True)
        raise
    methods = [f"pin:{pin_of(entry)}"] if pin_of(entry) else []
    methods += [host.method] if host is not None else []
    methods += ["lock"] if name in locked.files else []
    source = f"manual:{name}" if card.source["access"] in GATED else entry["url"]
    return file_record(source, dest, actual, methods)


def download(
    card: Card,
    out_dir: Path,
    root: Path,
    fetching: Fetching = Fetching(),
    locked: Locked = Locked(),
) -> Path:
    """Fetch and verify the card's source; write its records and return SHA256SUMS."""
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
        _check_strict(card, fetching, [] if pinned else [source["path"]])
        hashes = fetch_local_tree(root / source["path"], dataset=card.id, sha256s=pinned)
        method = ["pin:sha256"] if pinned else []
        records = {n: file_record(f"path:{n}", root / source["path"] / n, h, method)
                   for n, h in hashes.items()}  # fmt: skip
    else:
        _check_strict(card, fetching, uncovered(card, locked))
        answers: dict[str, object] = {}
        entries = card.source_files + listed(card, fetching, answers)
        records = {
            archive_name(entry): _fetch_file(card, entry, out_dir, root, fetching, locked, answers)
            for entry in entries
        }
        hashes = {n: r["sha256"] for n, r in records.items()}
    record_verification(out_dir, records)
    write_manifest(manifest, hashes)
    unverified = sorted(n for n, r in records.items() if r["verified"] == ["none"])
    if unverified:
        _warn_unverified(card, unverified[:5] + (["..."] if len(unverified) > 5 else []), manifest)
    return manifest


def listed(card: Card, fetching: Fetching, answers: dict) -> list[dict]:
    """The files of the source's listings (acquire.listing), read from the host's API now:
    without its answer there is nothing to download, strict or not."""
    try:
        get = lambda url: get_json(apply_mirrors(url, fetching.mirrors))  # noqa: E731
        return expand(card.source.get("listings", []), get, card.id, answers)
    except PublisherError as err:
        raise CosmosError(
            f"the host's file listing failed: {err.what}",
            dataset=card.id,
            path=err.path,
            fix="retry when the host answers; a mirror (`mirrors` in the config) can stand in",
        ) from err


def uncovered(card: Card, locked: Locked) -> list[str]:
    """The card's files that neither a pin, the publisher nor the lock verifies."""
    return [
        archive_name(e)
        for e in card.source_files
        if not (pin_of(e) or by_publisher(card, e) or archive_name(e) in locked.files)
    ]


def _check_strict(card: Card, fetching: Fetching, uncovered: list[str]) -> None:
    if fetching.strict and uncovered:
        why = (
            "no checksum of its source is published (checksum: unpublished)"
            if card.checksum == "unpublished"
            else "no pin, publisher checksum or lock covers "
            + ", ".join(uncovered[:5])
            + (f" and {len(uncovered) - 5} more" if len(uncovered) > 5 else "")
        )
        raise ConfigError(
            f"{why} and strict_checksums is on",
            dataset=card.id,
            fix="pin the sha256 of a copy you trust in the card's source, lock a verified "
            "download (`cosmos-bench datasets lock`), or turn strict_checksums off",
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
    parser.add_argument("--lockfile", default=LOCKFILE, help="the datasets lock, if any")
    args = parser.parse_args(argv)
    card = load_card(args.root, args.dataset, load_ontology(args.root), args.cards_dirs)
    fetching = Fetching(args.mirrors, args.manual_dir, args.strict)
    locked = read_lock(args.root / args.lockfile).get(card.id, {})
    download(card, args.out_dir, args.root, fetching, Locked(locked, args.lockfile))


if __name__ == "__main__":
    run_cli(main)
