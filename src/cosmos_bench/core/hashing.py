"""sha256 (and md5) of files, read in chunks: the identity of every archive and weights file.
md5 is there only for sources whose publisher lists nothing stronger (Zenodo)."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hash a file in 1 MiB blocks so multi-GB archives never sit in memory."""
    return file_digest(path, "sha256")


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file by `algorithm` (a hashlib name), read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()
