"""The download and unpack stages for one dataset card (and model weights).

A card's source is an archive URL (http(s), file:), a local folder, or, for gated datasets
(registration or request), an archive the user places in the manual folder. Either way the stage
ends with `downloads/{dataset}/SHA256SUMS`, the hashes of what was verified; the unpack stage
turns that into `raw/{dataset}/`, the folder the format adapter reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

from cosmos_bench.atomic import write_bytes
from cosmos_bench.catalog import Card, load_card, load_models, load_ontology
from cosmos_bench.download import fetch, fetch_local_tree, read_manifest, write_manifest
from cosmos_bench.errors import ChecksumError, ConfigError, CosmosError, run_cli
from cosmos_bench.unpack import link_tree, unpack_all

MANIFEST = "SHA256SUMS"
GATED = ("registration", "request")


@dataclass(frozen=True)
class Fetching:
    """How a run fetches: URL prefix rewrites, the folder for gated files, checksum policy."""

    mirrors: dict[str, str] = field(default_factory=dict)
    manual_dir: Path = Path("resources/manual")
    strict: bool = False


def _mirror_prefix(url: str, mirrors: dict[str, str]) -> str | None:
    """The mirror entry that rewrites `url`: the longest matching prefix, if any."""
    matches = [prefix for prefix in mirrors if url.startswith(prefix)]
    return max(matches, key=len) if matches else None


def apply_mirrors(url: str, mirrors: dict[str, str]) -> str:
    """Rewrite the longest matching URL prefix (a lab mirror, a local folder)."""
    prefix = _mirror_prefix(url, mirrors)
    return url if prefix is None else mirrors[prefix] + url[len(prefix) :]


def mirrors_for(urls: list[str], mirrors: dict[str, str]) -> dict[str, str]:
    """The entries of `mirrors` that rewrite some of `urls` (each URL's longest match).

    They rewrite each of `urls` exactly as the whole map does, so a job given only them (its
    params) reruns when, and only when, the rewrite of one of its own URLs changes."""
    prefixes = {_mirror_prefix(url, mirrors) for url in urls} - {None}
    return {prefix: mirrors[prefix] for prefix in sorted(prefixes)}


def source_mirrors(card: Card, mirrors: dict[str, str]) -> dict[str, str]:
    """The mirror entries a card's download uses: none for a gated dataset (its files come
    from the manual folder) or a local folder, else those of its source files' URLs."""
    if card.source["access"] in GATED:
        return {}
    return mirrors_for([entry["url"] for entry in card.source_files], mirrors)


def manual_file(card: Card, entry: dict, manual_dir: Path) -> Path:
    """Where the user must place one file of a gated dataset."""
    return manual_dir / card.id / archive_name(entry)


def explain(card: Card, manual_dir: Path) -> str:
    """What a user must do to get this dataset, in plain words."""
    source = card.source
    if source["access"] not in GATED:
        where = ", ".join(f["url"] for f in card.source_files) or source.get("path")
        return f"{card.id}: {source['access']} access; fetched automatically from {where}"
    lines = [
        f"{card.id}: needs {source['access']} at {card.raw['homepage']}",
        *([f"  {source['instructions']}"] if source.get("instructions") else []),
        f"  then place in {manual_dir / card.id}/:",
    ]
    for entry in card.source_files:
        pin = entry.get("sha256") or "not known yet (recorded on first use)"
        lines.append(f"    {archive_name(entry)}  (from {entry['url']}; sha256 {pin})")
    return "\n".join(lines)


def archive_name(entry: dict) -> str:
    """A source file's name under downloads/{id}/: `filename`, else the URL's basename."""
    return entry.get("filename") or Path(urlparse(entry["url"]).path).name


def local_path(url: str) -> str | None:
    """The file a `file:`/`package:` URL or plain path names, for Snakemake to track as input."""
    if url.startswith("package:"):
        package, _, inner = url.removeprefix("package:").partition("/")
        return str(resources.files(package).joinpath(inner))
    if url.startswith("file://"):
        return urlparse(url).path
    if url.startswith("file:"):
        return url.removeprefix("file:")
    return None if "://" in url else url


def _warn_unpinned(dataset: str, manifest: Path) -> None:
    print(
        f"[{dataset}] warning: the card pins no sha256; recorded what was downloaded in "
        f"{manifest}. Copy it into the card to detect a changed or corrupt source next time.",
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
        unpinned = any(not entry.get("sha256") for entry in card.source_files)
        _check_strict(card, fetching, unpinned)
        hashes = {
            archive_name(entry): _fetch_file(card, entry, out_dir, root, fetching)
            for entry in card.source_files
        }
    write_manifest(manifest, hashes)
    if unpinned:
        _warn_unpinned(card.id, manifest)
    return manifest


def _check_strict(card: Card, fetching: Fetching, unpinned: bool) -> None:
    if fetching.strict and unpinned:
        raise ConfigError(
            "the card pins no sha256 for some source file and strict_checksums is on",
            dataset=card.id,
            fix="add the sha256 to the card's source, or turn strict_checksums off",
        )


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


def fetch_weights(
    model: str,
    root: Path,
    dest: Path,
    mirrors: dict[str, str] | None = None,
    strict: bool = False,
) -> str:
    """Fetch and verify one model's weights (the same downloader as datasets).

    An entry without a sha256 (a hash no trustworthy source publishes) is accepted once with a
    warning and its hash recorded next to the file, as for datasets; `strict` refuses it."""
    weights = load_models(root)[model]["weights"]
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
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="stage", required=True)
    d = sub.add_parser("download")
    d.add_argument("--dataset", required=True)
    d.add_argument("--out-dir", type=Path, required=True)
    d.add_argument("--strict", action="store_true")
    d.add_argument("--manual-dir", type=Path, default=Fetching.manual_dir)
    u = sub.add_parser("unpack")
    u.add_argument("--dataset", required=True)
    u.add_argument("--manifest", type=Path, required=True)
    u.add_argument("--raw", type=Path, required=True)
    w = sub.add_parser("weights")
    w.add_argument("--model", required=True)
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--strict", action="store_true")
    for p in (d, u, w):
        p.add_argument("--root", type=Path, default=Path.cwd())
    for p in (d, w):
        p.add_argument("--mirrors", type=json.loads, default={}, help="JSON prefix -> prefix")
    args = parser.parse_args(argv)
    if args.stage == "weights":
        fetch_weights(args.model, args.root, args.out, args.mirrors, args.strict)
        return
    card = load_card(args.root, args.dataset, load_ontology(args.root))
    if args.stage == "download":
        download(
            card, args.out_dir, args.root, Fetching(args.mirrors, args.manual_dir, args.strict)
        )
    else:
        unpack_source(card, args.manifest, args.raw, args.root)


if __name__ == "__main__":
    run_cli(main)
