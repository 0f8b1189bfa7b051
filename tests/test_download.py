"""download.fetch against a misbehaving loopback server, plus local sources and manifests.

FAULT_CASES runs each fault against a real .zip and a real .tar.gz (card dataset "toy"):

- drop: the connection closes mid-file -> resumed with a Range request, verified, unpacks.
- stall: headers, then silence -> CosmosError after the retries, in bounded time.
- burst-500, burst-503, burst-mixed: transient 5xx/429 answers -> retried with backoff, verified.
- burst-exhausted: more 503s than retries -> CosmosError naming HTTP 503.
- not-found: 404 -> CosmosError "the host refused", pointing to the card, not retried.
- login-page: an HTML login page -> CosmosError "web page".
- wrong-bytes: right length, wrong content -> ChecksumError.
- length-more-once: Content-Length announces more bytes than sent, once -> resumed, verified.
- length-more: the same lie on every answer -> CosmosError after the retries (never accepted).
- length-fewer: Content-Length announces fewer bytes than the file -> ChecksumError.

Every case also asserts that dest exists only when its bytes verify, and that a kept .part is a
true prefix of the file (resumable, never corrupt).
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from loopback import LOGIN_PAGE, Behaviour, serve

from cosmos_bench.acquire.extract import unpack
from cosmos_bench.acquire.http import fetch, fetch_local_tree
from cosmos_bench.acquire.manifest import read_manifest, write_manifest
from cosmos_bench.core.errors import ChecksumError, CosmosError
from cosmos_bench.core.hashing import sha256_file

DATA = bytes(range(256)) * 4096  # 1 MiB, so a drop lands mid-body
SHA = hashlib.sha256(DATA).hexdigest()
# Incompressible, so each archive is ~400 KB and a drop after 300 KB lands mid-file.
MEMBERS = {
    "case_001/image.raw": random.Random(7).randbytes(400_000),
    "case_001/labels.csv": b"1,liver\n2,lesion\n",
}


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tgz_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


ARCHIVES = {"toy.zip": _zip_bytes(MEMBERS), "toy.tar.gz": _tgz_bytes(MEMBERS)}


@dataclass(frozen=True)
class Fault:
    """One way a host misbehaves, and what fetch must make of it."""

    id: str
    behaviour: Behaviour
    statuses: tuple[int, ...]  # the server's answers, which pin the recovery path
    error: type[CosmosError] | None = None  # None: the download completes and verifies
    match: str = ""
    retries: int = 5
    timeout: float = 2.0


FAULT_CASES = [
    Fault("drop", Behaviour(drop_after=300_000), (200, 206)),
    Fault(
        "stall",
        Behaviour(stall=5.0),
        (200, 200),
        CosmosError,
        "after 2 attempt.*Read timed out",
        retries=1,
        timeout=0.3,
    ),
    Fault("burst-500", Behaviour(status_burst=(500,) * 3), (500, 500, 500, 200)),
    Fault("burst-503", Behaviour(status_burst=(503,) * 3), (503, 503, 503, 200)),
    Fault(
        "burst-mixed",
        Behaviour(status_burst=(503, 500, 429, 502, 504)),
        (503, 500, 429, 502, 504, 200),
    ),
    Fault(
        "burst-exhausted",
        Behaviour(status_burst=(503,) * 9),
        (503, 503, 503),
        CosmosError,
        r"after 3 attempt\(s\): HTTP 503",
        retries=2,
    ),
    Fault(
        "not-found",
        Behaviour(status=404),
        (404,),
        CosmosError,
        r"(?s)the host refused the download \(HTTP 404.*access instructions in the dataset card",
    ),
    Fault("login-page", Behaviour(html=True), (200,), CosmosError, "web page"),
    Fault("wrong-bytes", Behaviour(corrupt=True), (200,), ChecksumError, "sha256 mismatch"),
    Fault(
        "length-more-once",
        Behaviour(content_length_delta=1000, lie_first=1),
        (200, 206),
    ),
    Fault(
        "length-more",
        Behaviour(content_length_delta=1000),
        (200, 206, 206),
        CosmosError,
        r"after 3 attempt\(s\).*IncompleteRead",
        retries=2,
    ),
    Fault("length-fewer", Behaviour(content_length_delta=-1000), (200,), ChecksumError, "sha256"),
]


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _get(url: str, dest: Path, **kwargs: object) -> str:
    """fetch with test-friendly defaults: short timeout, recorded (not slept) backoff."""
    options: dict = {"dataset": "ds", "sha256": SHA, "timeout": 2.0, "sleep": lambda _s: None}
    options.update(kwargs)
    return fetch(url, dest, **options)


@pytest.mark.parametrize("name", ARCHIVES)
@pytest.mark.parametrize("fault", FAULT_CASES, ids=lambda fault: fault.id)
def test_fault_case(tmp_path: Path, fault: Fault, name: str) -> None:
    archive = ARCHIVES[name]
    sha = hashlib.sha256(archive).hexdigest()
    dest = tmp_path / name
    delays: list[float] = []
    started = time.monotonic()
    with serve({f"/{name}": archive}, behaviour=fault.behaviour) as (url, log):
        try:
            got = fetch(
                f"{url}/{name}",
                dest,
                dataset="toy",
                sha256=sha,
                timeout=fault.timeout,
                retries=fault.retries,
                sleep=delays.append,
            )
        except CosmosError as exc:
            failure: CosmosError | None = exc
        else:
            failure = None
    assert time.monotonic() - started < 3.0
    assert tuple(entry.status for entry in log) == fault.statuses
    assert len(delays) == len(log) - 1
    part = _part(dest)
    assert not part.exists() or archive.startswith(part.read_bytes())
    if fault.error is None:
        assert failure is None, failure
        assert got == sha
        assert dest.read_bytes() == archive
        assert not part.exists()
        unpack(dest, tmp_path / "out", dataset="toy")
        assert {n: (tmp_path / "out" / n).read_bytes() for n in MEMBERS} == MEMBERS
    else:
        assert type(failure) is fault.error
        assert str(failure).startswith("[toy] ")
        assert re.search(fault.match, str(failure)), str(failure)
        assert not dest.exists()
        assert fault.error is not ChecksumError or not part.exists()


def test_http_fetch_verifies_and_returns_hash(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "a.bin"
    with serve({"/a.bin": DATA}) as (url, log):
        assert _get(url + "/a.bin", dest) == SHA
    assert dest.read_bytes() == DATA
    assert not _part(dest).exists()
    assert [entry.status for entry in log] == [200]


def test_checksum_mismatch_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "a.bin"
    wrong = "0" * 64
    with serve({"/a.bin": DATA}) as (url, _log), pytest.raises(ChecksumError) as info:
        _get(url + "/a.bin", dest, sha256=wrong)
    message = str(info.value)
    assert wrong in message
    assert SHA in message
    assert "[ds]" in message
    assert "/a.bin" in message
    assert not dest.exists()
    assert not _part(dest).exists()


def test_resume_after_dropped_connection(tmp_path: Path) -> None:
    dest = tmp_path / "a.bin"
    delays: list[float] = []
    with serve({"/a.bin": DATA}, behaviour=Behaviour(drop_after=300_000)) as (url, log):
        assert _get(url + "/a.bin", dest, sleep=delays.append) == SHA
    assert dest.read_bytes() == DATA
    assert log[0].range is None
    resumed_at = int(log[1].range.removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= 300_000
    assert log[1].status == 206
    assert delays == [0.5]


def test_resume_from_existing_part_file(tmp_path: Path) -> None:
    dest = tmp_path / "a.bin"
    _part(dest).write_bytes(DATA[:1000])
    with serve({"/a.bin": DATA}) as (url, log):
        assert _get(url + "/a.bin", dest) == SHA
    assert dest.read_bytes() == DATA
    assert [(entry.range, entry.status) for entry in log] == [("bytes=1000-", 206)]


def test_restart_from_zero_when_server_ignores_range(tmp_path: Path) -> None:
    dest = tmp_path / "a.bin"
    _part(dest).write_bytes(b"stale bytes that must not survive")
    with serve({"/a.bin": DATA}, behaviour=Behaviour(ranges=False)) as (url, log):
        assert _get(url + "/a.bin", dest) == SHA
    assert dest.read_bytes() == DATA
    assert [entry.status for entry in log] == [200]


def test_retries_after_server_errors_with_backoff(tmp_path: Path) -> None:
    dest = tmp_path / "a.bin"
    delays: list[float] = []
    with serve({"/a.bin": DATA}, behaviour=Behaviour(status_burst=(500, 503, 500))) as (url, log):
        assert _get(url + "/a.bin", dest, sleep=delays.append) == SHA
    assert [entry.status for entry in log] == [500, 503, 500, 200]
    assert delays == [0.5, 1.0, 2.0]


def test_forbidden_is_not_retried_and_mentions_login(tmp_path: Path) -> None:
    dest = tmp_path / "a.bin"
    with (
        serve({"/a.bin": DATA}, behaviour=Behaviour(status=403)) as (url, log),
        pytest.raises(CosmosError, match="login or registration") as info,
    ):
        _get(url + "/a.bin", dest)
    assert "HTTP 403" in str(info.value)
    assert "dataset card" in str(info.value)
    assert len(log) == 1
    assert not dest.exists()


def test_html_body_with_binary_type_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "a.zip"
    with (
        serve({"/a.zip": LOGIN_PAGE}) as (url, _log),
        pytest.raises(CosmosError, match="login or consent page"),
    ):
        _get(url + "/a.zip", dest, sha256=None)
    assert not dest.exists()
    assert not _part(dest).exists()


def test_file_url_absolute(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(DATA)
    dest = tmp_path / "out" / "a.bin"
    assert _get(src.as_uri(), dest) == SHA
    assert dest.read_bytes() == DATA


def test_file_url_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "src.bin").write_bytes(DATA)
    dest = tmp_path / "out" / "a.bin"
    assert _get("file:cache/src.bin", dest, base_dir=tmp_path) == SHA
    assert dest.read_bytes() == DATA


def test_plain_paths_absolute_and_relative(tmp_path: Path) -> None:
    (tmp_path / "src.bin").write_bytes(DATA)
    assert _get(str(tmp_path / "src.bin"), tmp_path / "a.bin") == SHA
    assert _get("src.bin", tmp_path / "b.bin", base_dir=tmp_path) == SHA
    assert (tmp_path / "b.bin").read_bytes() == DATA


def test_missing_local_source(tmp_path: Path) -> None:
    with pytest.raises(CosmosError, match="local source file not found"):
        _get("file:nope.bin", tmp_path / "a.bin", base_dir=tmp_path)


def test_unsupported_scheme(tmp_path: Path) -> None:
    with pytest.raises(CosmosError, match="unsupported URL scheme 'ftp'"):
        _get("ftp://example.org/a.bin", tmp_path / "a.bin")


def test_unpinned_checksum_returns_actual_hash(tmp_path: Path) -> None:
    dest = tmp_path / "a.bin"
    with serve({"/a.bin": DATA}) as (url, _log):
        assert _get(url + "/a.bin", dest, sha256=None) == SHA
    assert sha256_file(dest) == SHA


def test_progress_goes_to_stderr_with_dataset_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve({"/a.bin": DATA}) as (url, _log):
        _get(url + "/a.bin", tmp_path / "a.bin", dataset="brats")
    lines = capsys.readouterr().err.splitlines()
    assert lines == [line for line in lines if line.startswith("[brats] ")]
    assert lines[-1].startswith("[brats] 1.0 MiB / 1.0 MiB")
    assert lines[-1].endswith("done")


def test_manifest_round_trip(tmp_path: Path) -> None:
    entries = {"b.nii.gz": "a" * 64, "a/x y.txt": "B" * 64}
    path = tmp_path / "SHA256SUMS"
    write_manifest(path, entries)
    assert path.read_text().splitlines() == [f"{'B' * 64}  a/x y.txt", f"{'a' * 64}  b.nii.gz"]
    assert read_manifest(path) == {"a/x y.txt": "b" * 64, "b.nii.gz": "a" * 64}
    assert [p.name for p in tmp_path.iterdir()] == ["SHA256SUMS"]


def test_manifest_accepts_binary_marker_and_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "SHA256SUMS"
    path.write_text(f"{'c' * 64} *w.bin\n\n")
    assert read_manifest(path) == {"w.bin": "c" * 64}
    path.write_text("not a checksum line\n")
    with pytest.raises(CosmosError, match="malformed line 1"):
        read_manifest(path)


def _tree(root: Path) -> dict[str, str]:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha")
    (root / "sub" / "b.txt").write_bytes(b"beta")
    return {
        "a.txt": hashlib.sha256(b"alpha").hexdigest(),
        "sub/b.txt": hashlib.sha256(b"beta").hexdigest(),
    }


def test_local_tree_hashes_everything_and_checks_pins(tmp_path: Path) -> None:
    expected = _tree(tmp_path / "src")
    pins = {"sub/b.txt": expected["sub/b.txt"]}
    assert fetch_local_tree(tmp_path / "src", dataset="ds", sha256s=pins) == expected
    assert list(fetch_local_tree(tmp_path / "src", dataset="ds", sha256s=None)) == [
        "a.txt",
        "sub/b.txt",
    ]


def test_local_tree_mismatch(tmp_path: Path) -> None:
    _tree(tmp_path / "src")
    with pytest.raises(ChecksumError) as info:
        fetch_local_tree(tmp_path / "src", dataset="ds", sha256s={"a.txt": "f" * 64})
    assert info.value.expected == "f" * 64
    assert "a.txt" in str(info.value)


def test_local_tree_missing_pinned_file_or_folder(tmp_path: Path) -> None:
    _tree(tmp_path / "src")
    with pytest.raises(CosmosError, match=r"missing from the local folder: gone\.txt"):
        fetch_local_tree(tmp_path / "src", dataset="ds", sha256s={"gone.txt": "f" * 64})
    with pytest.raises(CosmosError, match=r"source\.path"):
        fetch_local_tree(tmp_path / "nowhere", dataset="ds", sha256s=None)


def test_the_manifest_is_mode_0644(tmp_path: Path) -> None:
    """Not mkstemp's 0600: the manifest is shared like every other output."""
    import stat

    path = tmp_path / "SHA256SUMS"
    write_manifest(path, {"a.zip": "a" * 64})
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_only_the_atomic_module_makes_temporary_files() -> None:
    """mkstemp creates files 0600; cosmos_bench.core.atomic.write_bytes is the one writer that
    resets the mode, so no other module may write an output through tempfile."""
    src = Path(__file__).resolve().parents[1] / "src" / "cosmos_bench"
    users = sorted(
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if re.search(r"\b(mkstemp|NamedTemporaryFile)\(", path.read_text())
    )
    assert users == ["core/atomic.py"]

