"""What the acquire stage has done for a card (`cosmos-bench datasets status`): its manual
archives placed, downloaded, verified (and how), unpacked, harmonized."""

from __future__ import annotations

from pathlib import Path

from cosmos_bench.acquire.lock import read_verification
from cosmos_bench.acquire.manifest import read_manifest
from cosmos_bench.acquire.sources import MANIFEST, archive_name
from cosmos_bench.catalog.cards import Card


def verified(card: Card, downloads: Path) -> str:
    """How the downloaded files were verified (the download's VERIFIED.json: pin, publisher,
    lock, each method once, joined by +; `unverified:N/M` when N of M files had none), or
    MISMATCH when a recorded hash differs from the card's pin."""
    if "path" in card.source:
        pins = card.source.get("sha256") or {}
    else:
        pins = {archive_name(e): e["sha256"] for e in card.source_files if e.get("sha256")}
    seen = read_manifest(downloads / MANIFEST)
    if not all(seen.get(name) == sha for name, sha in pins.items()):
        return "MISMATCH"
    records = read_verification(downloads)
    if not records:  # downloaded before the stage recorded how
        return "pinned" if card.checksum in ("sha256", "md5") else "unverified"
    methods = sorted({m for r in records.values() for m in r["verified"]} - {"none"})
    bare = sum(r["verified"] == ["none"] for r in records.values())
    if bare:
        methods.append(f"unverified:{bare}/{len(records)}")
    return "+".join(methods)


def placed(card: Card, manual_dir: Path) -> str:
    """For a gated card: whether its archives are in the manual folder, where the download
    step takes them from."""
    if card.source["access"] in ("open", "generated"):
        return "-"
    names = [archive_name(e) for e in card.source_files]
    present = [n for n in names if (manual_dir / card.id / n).is_file()]
    return "placed" if names and len(present) == len(names) else f"{len(present)}/{len(names)}"


def status_record(card: Card, results: Path, manual_dir: Path) -> dict[str, str]:
    downloads = results / "downloads" / card.id
    downloaded = (downloads / MANIFEST).exists()
    return {
        "dataset": card.id,
        "manual": placed(card, manual_dir),
        "downloaded": "yes" if downloaded else "no",
        "verified": verified(card, downloads) if downloaded else "-",
        "unpacked": "yes" if (results / "raw" / card.id).is_dir() else "no",
        "harmonized": "yes" if (results / "harmonized" / card.id / "index.parquet").exists()
        else "no",
    }
