"""SHA256SUMS manifests: what the download stage verified, read back by unpack and
provenance."""

from __future__ import annotations

import re
from pathlib import Path

from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.core.errors import CosmosError

_MANIFEST_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")


def write_manifest(path: Path, entries: dict[str, str]) -> None:
    """Write `sha256sum`-format lines sorted by name, atomically (mode 0644, like every output:
    mkstemp's own 0600 would hide the manifest from a group sharing the results)."""
    text = "".join(f"{entries[name]}  {name}\n" for name in sorted(entries))
    write_bytes(path, text.encode("utf-8"))


def read_manifest(path: Path) -> dict[str, str]:
    """Parse a `sha256sum`-format file (text or binary marker) into name -> lowercase hash."""
    fix = "delete the manifest and rerun the download step to rebuild it"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise CosmosError("checksum manifest not found", path=str(path), fix=fix) from exc
    entries: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        match = _MANIFEST_LINE.fullmatch(line)
        if match is None:
            raise CosmosError(
                f"malformed line {number} in checksum manifest", path=str(path), fix=fix
            )
        entries[match[2]] = match[1].lower()
    return entries
