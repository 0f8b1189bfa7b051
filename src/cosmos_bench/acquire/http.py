"""Fetch dataset and weight files with resume, retries and sha256 (or md5) checks.

Public hosts are slow, flaky and sometimes answer with a login page; every failure here ends in a
CosmosError that says which dataset and file failed and what the user can do about it.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests

from cosmos_bench.core.errors import ChecksumError, CosmosError, run_cli
from cosmos_bench.core.hashing import CHUNK, file_digest, sha256_file
from cosmos_bench.core.progress import ByteMeter

# A dropped connection loses the chunk being read, so network reads stay small to resume closely.
NET_CHUNK = 1 << 16


BACKOFF_BASE = 0.5


BACKOFF_CAP = 30.0




REFUSED = (401, 403, 404)


RETRYABLE_4XX = (408, 429)


TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-\d+/(?:\d+|\*)")


Sleep = Callable[[float], None]


class _RetryableError(Exception):
    """An attempt failed in a way another attempt (resuming the .part) may fix."""


@dataclass(frozen=True)
class _Job:
    """What every attempt of one HTTP download needs."""

    url: str
    part: Path
    dataset: str
    timeout: float
    check_html: bool  # web-page checks, unless the card asks for an .html file
    progress: ByteMeter


def fetch(
    url: str,
    dest: Path,
    *,
    dataset: str,
    sha256: str | None,
    md5: str | None = None,
    timeout: float = 60.0,
    retries: int = 5,
    base_dir: Path | None = None,
    sleep: Sleep = time.sleep,
) -> str:
    """Download or copy `url` to `dest` atomically and return its sha256.

    `sha256=None` accepts any content (the caller records and warns); an `md5` (a publisher that
    lists nothing stronger) is checked on the complete file before it is renamed. `sleep` is
    injectable so tests need not wait for the backoff.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    local = _local_source(url, base_dir, dataset)
    progress = ByteMeter(dataset)
    if local is None:
        check_html = not dest.name.lower().endswith((".html", ".htm"))
        job = _Job(url, part, dataset, timeout, check_html, progress)
        actual = _download(job, retries, sleep)
    else:
        actual = _copy_local(local, part, dataset, progress)
    if sha256 is not None and actual != sha256.lower():
        part.unlink(missing_ok=True)
        raise ChecksumError(dataset=dataset, path=url, expected=sha256.lower(), actual=actual)
    if md5 is not None and (got := file_digest(part, "md5")) != md5.lower():
        part.unlink(missing_ok=True)
        raise ChecksumError(
            dataset=dataset, path=url, expected=md5.lower(), actual=got, algorithm="md5"
        )
    os.replace(part, dest)
    return actual


def fetch_local_tree(src: Path, *, dataset: str, sha256s: dict[str, str] | None) -> dict[str, str]:
    """Hash every regular file under a local source folder and check the pinned ones."""
    if not src.is_dir():
        raise CosmosError(
            "local source folder not found",
            dataset=dataset,
            path=str(src),
            fix="check the card's source.path: it must name an existing folder",
        )
    hashes = {name: sha256_file(src / name) for name in _tree_names(src)}
    pinned = {name: expected.lower() for name, expected in (sha256s or {}).items()}
    missing = sorted(set(pinned) - set(hashes))
    if missing:
        shown = ", ".join(missing[:5])
        raise CosmosError(
            f"{len(missing)} pinned file(s) missing from the local folder: {shown}",
            dataset=dataset,
            path=str(src),
            fix="check the card's source.path points at the complete dataset folder",
        )
    for name, expected in sorted(pinned.items()):
        if hashes[name] != expected:
            raise ChecksumError(
                dataset=dataset, path=str(src / name), expected=expected, actual=hashes[name]
            )
    return hashes


def _tree_names(src: Path) -> list[str]:
    """Relative posix names of the regular files (or links to them) under `src`, sorted."""
    names = []
    for root, _dirs, files in os.walk(src):
        for file in files:
            path = Path(root, file)
            if path.is_file():
                names.append(path.relative_to(src).as_posix())
    return sorted(names)


def _local_source(url: str, base_dir: Path | None, dataset: str) -> Path | None:
    """Map file:///abs, file:rel and plain paths to a Path; None means fetch over HTTP(S)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return None
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise CosmosError(
                f"file URL with a host part ({parts.netloc!r}) is not supported",
                dataset=dataset,
                path=url,
                fix="write file:///absolute/path or file:relative/path in the card",
            )
        path = Path(unquote(parts.path))
    elif len(scheme) > 1:
        raise CosmosError(
            f"unsupported URL scheme {scheme!r}",
            dataset=dataset,
            path=url,
            fix="use an http(s):// or file: URL, or a local path, in the card",
        )
    else:
        path = Path(url)
    return path if path.is_absolute() else (base_dir or Path.cwd()) / path


def _copy_local(src: Path, part: Path, dataset: str, progress: ByteMeter) -> str:
    """Copy a local source through the same hash-while-writing path as a download."""
    if not src.is_file():
        raise CosmosError(
            "local source file not found",
            dataset=dataset,
            path=str(src),
            fix="check the card's source url/path; relative paths resolve against the config "
            "folder (or the working directory)",
        )
    total = src.stat().st_size
    with src.open("rb") as fh:
        done, actual = _pump(iter(lambda: fh.read(CHUNK), b""), part, 0, total, progress)
    progress.finish(done, total)
    return actual


def _download(job: _Job, retries: int, sleep: Sleep) -> str:
    """Run attempts with exponential backoff; the .part is kept so a rerun resumes."""
    failure = ""
    for attempt in range(retries + 1):
        if attempt:
            sleep(min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))
        try:
            return _attempt(job)
        except _RetryableError as exc:
            failure = str(exc)
    raise CosmosError(
        f"download failed after {retries + 1} attempt(s): {failure}",
        dataset=job.dataset,
        path=job.url,
        fix="check the network and that the host is up, then rerun: the partial file is kept "
        "and the download resumes where it stopped",
    )


def _attempt(job: _Job) -> str:
    """One HTTP request: resume from the .part when the server honours Range, else restart."""
    part = job.part
    have = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        with requests.get(job.url, headers=headers, stream=True, timeout=job.timeout) as resp:
            _check_status(resp, job)
            offset = _resume_offset(resp, have, part)
            if job.check_html:
                _refuse_html_type(resp, job)
            total = _expected_total(resp, offset)
            chunks = resp.iter_content(NET_CHUNK)
            first = next(chunks, b"")
            if job.check_html and offset == 0:
                _refuse_html_bytes(first, job)
            chunks = itertools.chain([first], chunks)
            done, actual = _pump(chunks, part, offset, total, job.progress)
    except TRANSIENT as exc:
        raise _RetryableError(f"{type(exc).__name__}: {exc}") from exc
    if total is not None and done != total:
        raise _RetryableError(f"the server closed the connection after {done} of {total} bytes")
    job.progress.finish(done, total)
    return actual


def _check_status(resp: requests.Response, job: _Job) -> None:
    """Sort the status into retry (5xx, 408, 429, bad range) or a user-facing refusal (4xx)."""
    code = resp.status_code
    if code == 416:
        job.part.unlink(missing_ok=True)
        raise _RetryableError("the server rejected the resume range; restarting from zero")
    if code >= 500 or code in RETRYABLE_4XX:
        raise _RetryableError(f"HTTP {code} {resp.reason}")
    if code in REFUSED:
        raise CosmosError(
            f"the host refused the download (HTTP {code} {resp.reason})",
            dataset=job.dataset,
            path=job.url,
            fix="the dataset may need a login or registration (or the URL moved): follow the "
            "access instructions in the dataset card, or download the file by hand and point "
            "the card's source at it",
        )
    if code >= 400:
        raise CosmosError(
            f"the host answered HTTP {code} {resp.reason}",
            dataset=job.dataset,
            path=job.url,
            fix="check the URL in the dataset card",
        )


def _resume_offset(resp: requests.Response, have: int, part: Path) -> int:
    """Byte offset the body starts at: `have` for a matching 206, 0 when the server sent it all."""
    if resp.status_code != 206:
        return 0
    match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
    if match is None or int(match[1]) != have:
        part.unlink(missing_ok=True)
        raise _RetryableError("the server answered a different byte range; restarting from zero")
    return have


def _expected_total(resp: requests.Response, offset: int) -> int | None:
    """Final file size implied by Content-Length, so an early close is noticed."""
    length = resp.headers.get("Content-Length", "")
    return offset + int(length) if length.isdigit() else None


def _refuse_html_type(resp: requests.Response, job: _Job) -> None:
    """A text/html answer to a file request is a login or consent page, not the data."""
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        raise _web_page_error(job)


def _refuse_html_bytes(first: bytes, job: _Job) -> None:
    """Catch web pages served with a binary Content-Type by sniffing the first bytes."""
    head = first[:256].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise _web_page_error(job)


def _web_page_error(job: _Job) -> CosmosError:
    return CosmosError(
        "the host returned a web page (probably a login or consent page) instead of the file",
        dataset=job.dataset,
        path=job.url,
        fix="open the URL in a browser and complete the login/registration described in the "
        "dataset card, then download the file by hand and point the card's source at it",
    )


def _pump(
    chunks: Iterable[bytes], part: Path, offset: int, total: int | None, progress: ByteMeter
) -> tuple[int, str]:
    """Append `chunks` to the part file after `offset` bytes; return final size and sha256."""
    digest = hashlib.sha256()
    _read_prefix(part, offset, digest.update)
    done = offset
    progress.begin(offset)
    with part.open("ab" if offset else "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            progress.update(done, total)
    return done, digest.hexdigest()


def _read_prefix(part: Path, size: int, consume: Callable[[bytes], object]) -> None:
    """Feed the bytes already in the part file to the hash, so a resume hashes the whole file."""
    if not size:
        return
    with part.open("rb") as fh:
        while size and (block := fh.read(min(CHUNK, size))):
            consume(block)
            size -= len(block)


def main(argv: list[str] | None = None) -> None:
    """Fetch one file by hand (pre-seed a cache, retry a stubborn host) with the same checks."""
    parser = argparse.ArgumentParser(
        prog="python -m cosmos_bench.acquire.http",
        description="Download URL to DEST with resume, retries and a sha256 check; print the hash.",
    )
    parser.add_argument("url", help="http(s):// or file: URL, or a local path")
    parser.add_argument("dest", type=Path, help="file to create; DEST.part holds partial bytes")
    parser.add_argument("--dataset", required=True, help="dataset id, shown in messages")
    parser.add_argument("--sha256", help="expected sha256; without it any content is accepted")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for data before retrying"
    )
    args = parser.parse_args(argv)
    print(
        fetch(args.url, args.dest, dataset=args.dataset, sha256=args.sha256, timeout=args.timeout)
    )


if __name__ == "__main__":
    run_cli(main)
