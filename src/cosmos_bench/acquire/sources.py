"""Where each source file of a card comes from: its URL after the config's mirrors,
a local path, or the manual folder of a gated dataset (with instructions)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

from cosmos_bench.acquire.listing import listing_url
from cosmos_bench.catalog.cards import Card, pin_of

MANIFEST = "SHA256SUMS"
#: the folder beside the manifest that holds a download's files (a cloud run declares it as the
#: download's output; the manifest and VERIFIED.json stay outside it)
ARCHIVES = "files"


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
    from the manual folder) or a local folder, every one for a listed source (its files' URLs
    are known only when the host lists them), else those of its source files' URLs."""
    if card.source["access"] in GATED:
        return {}
    if card.source.get("listings"):
        return dict(mirrors)
    return mirrors_for([entry["url"] for entry in card.source_files], mirrors)


def manual_file(card: Card, entry: dict, manual_dir: Path) -> Path:
    """Where the user must place one file of a gated dataset."""
    return manual_dir / card.id / archive_name(entry)


def explain(card: Card, manual_dir: Path) -> str:
    """What a user must do to get this dataset, in plain words."""
    source = card.source
    if source["access"] not in GATED:
        urls = [f["url"] for f in card.source_files]
        urls += [f"the files {listing_url(x)} lists" for x in source.get("listings", [])]
        where = ", ".join(urls) or source.get("path")
        return f"{card.id}: {source['access']} access; fetched automatically from {where}"
    lines = [
        f"{card.id}: needs {source['access']} at {card.raw['homepage']}",
        *([f"  {source['instructions']}"] if source.get("instructions") else []),
        f"  then place in {manual_dir / card.id}/:",
    ]
    for entry in card.source_files:
        kind = pin_of(entry)
        pin = f"{kind} {entry[kind]}" if kind else "checksum not known yet (recorded on first use)"
        lines.append(f"    {archive_name(entry)}  (from {entry['url']}; {pin})")
    return "\n".join(lines)


def folder_state(folder: Path) -> str:
    """A digest of a local source folder's files (name, size, modification time): it changes
    when a file is added, removed or changed, so the download that mirrors the folder reruns.
    An absent folder has the state 'missing' (the download then says what is wrong)."""
    if not folder.is_dir():
        return "missing"
    entries = []
    for here, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(here, name)
            if path.is_file():
                stat = path.stat()
                entries.append(f"{path.relative_to(folder).as_posix()}\t{stat.st_size}\t{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


def archive_name(entry: dict) -> str:
    """A source file's name under downloads/{id}/files/: `filename`, else the URL's basename."""
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
