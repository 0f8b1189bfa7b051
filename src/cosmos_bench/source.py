"""The download and unpack stages for one dataset card (and model weights).

A card's source is either an archive URL (http(s), file:) or a local folder. Either way the
stage ends with `downloads/{dataset}/SHA256SUMS`, the hashes of what was verified; the unpack
stage turns that into `raw/{dataset}/`, the folder the format adapter reads.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

from cosmos_bench.catalog import Card, load_card, load_models, load_ontology
from cosmos_bench.download import fetch, fetch_local_tree, read_manifest, write_manifest
from cosmos_bench.errors import ConfigError, run_cli
from cosmos_bench.unpack import link_tree, unpack

MANIFEST = "SHA256SUMS"


def archive_name(source: dict) -> str:
    return source.get("filename") or Path(urlparse(source["url"]).path).name


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


def download(card: Card, out_dir: Path, root: Path, strict: bool = False) -> Path:
    """Fetch and verify the card's source; write and return its SHA256SUMS manifest."""
    source = card.source
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST
    pinned = source.get("sha256") or None
    if strict and not pinned:
        raise ConfigError(
            "the card pins no sha256 and strict_checksums is on",
            dataset=card.id,
            fix="add source.sha256 to the card, or turn strict_checksums off",
        )
    if "path" in source:
        if isinstance(pinned, str):
            raise ConfigError(
                "a local-folder source pins sha256 as a map of file name -> hash",
                dataset=card.id,
                fix="write source.sha256 as {file: hash, ...} or leave it empty",
            )
        hashes = fetch_local_tree(root / source["path"], dataset=card.id, sha256s=pinned)
    else:
        name = archive_name(source)
        digest = fetch(source["url"], out_dir / name, dataset=card.id, sha256=pinned, base_dir=root)
        hashes = {name: digest}
    write_manifest(manifest, hashes)
    if not pinned:
        _warn_unpinned(card.id, manifest)
    return manifest


def unpack_source(card: Card, manifest: Path, raw: Path, root: Path) -> None:
    """Extract the verified archive (or link the verified local files) into `raw`."""
    names = sorted(read_manifest(manifest))
    if "path" in card.source:
        link_tree((root / card.source["path"]).resolve(), raw, names)
    else:
        unpack(manifest.parent / archive_name(card.source), raw, dataset=card.id)
    print(f"[{card.id}] unpacked into {raw}", file=sys.stderr)


def fetch_weights(model: str, root: Path, dest: Path) -> None:
    """Fetch and verify one model's weights (the same downloader as datasets)."""
    weights = load_models(root)[model]["weights"]
    url = weights["url"]
    fetch(
        local_path(url) or url,
        dest,
        dataset=f"model {model}",
        sha256=weights.get("sha256"),
        base_dir=root,
    )
    print(f"[model {model}] weights verified: {dest}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="stage", required=True)
    d = sub.add_parser("download")
    d.add_argument("--dataset", required=True)
    d.add_argument("--out-dir", type=Path, required=True)
    d.add_argument("--strict", action="store_true")
    u = sub.add_parser("unpack")
    u.add_argument("--dataset", required=True)
    u.add_argument("--manifest", type=Path, required=True)
    u.add_argument("--raw", type=Path, required=True)
    w = sub.add_parser("weights")
    w.add_argument("--model", required=True)
    w.add_argument("--out", type=Path, required=True)
    for p in (d, u, w):
        p.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    if args.stage == "weights":
        fetch_weights(args.model, args.root, args.out)
        return
    card = load_card(args.root, args.dataset, load_ontology(args.root))
    if args.stage == "download":
        download(card, args.out_dir, args.root, args.strict)
    else:
        unpack_source(card, args.manifest, args.raw, args.root)


if __name__ == "__main__":
    run_cli(main)
