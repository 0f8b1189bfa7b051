"""download.fetch against a misbehaving loopback server, plus local sources and manifests."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from loopback import LOGIN_PAGE, Behaviour, serve

from cosmos_bench.download import (
    fetch,
    fetch_local_tree,
    read_manifest,
    sha256_file,
    write_manifest,
)
from cosmos_bench.errors import ChecksumError, CosmosError

DATA = bytes(range(256)) * 4096  # 1 MiB, so a drop lands mid-body
SHA = hashlib.sha256(DATA).hexdigest()


def _get(url: str, dest: Path, **kwargs: object) -> str:
    """fetch with test-friendly defaults: short timeout, recorded (not slept) backoff."""
    options: dict = {"dataset": "ds", "sha256": SHA, "timeout": 2.0, "sleep": lambda _s: None}
    options.update(kwargs)
    return fetch(url, dest, **options)


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


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
    with serve({"/a.bin": DATA}, behaviour=Behaviour(fail_first=3)) as (url, log):
        assert _get(url + "/a.bin", dest, sleep=delays.append) == SHA
    assert [entry.status for entry in log] == [500, 500, 500, 200]
    assert delays == [0.5, 1.0, 2.0]


def test_gives_up_after_retries(tmp_path: Path) -> None:
    dest = tmp_path / "a.bin"
    with (
        serve({"/a.bin": DATA}, behaviour=Behaviour(fail_first=99)) as (url, log),
        pytest.raises(CosmosError, match=r"after 3 attempt\(s\).*HTTP 500"),
    ):
        _get(url + "/a.bin", dest, retries=2)
    assert len(log) == 3
    assert not dest.exists()


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


def test_html_content_type_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "a.zip"
    with (
        serve({"/a.zip": DATA}, behaviour=Behaviour(html=True)) as (url, _log),
        pytest.raises(CosmosError, match="web page"),
    ):
        _get(url + "/a.zip", dest)
    assert not dest.exists()
    assert not _part(dest).exists()


def test_html_body_with_binary_type_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "a.zip"
    with (
        serve({"/a.zip": LOGIN_PAGE}) as (url, _log),
        pytest.raises(CosmosError, match="login or consent page"),
    ):
        _get(url + "/a.zip", dest, sha256=None)
    assert not dest.exists()
    assert not _part(dest).exists()


def test_stalled_server_fails_within_bounded_time(tmp_path: Path) -> None:
    dest = tmp_path / "a.bin"
    started = time.monotonic()
    with (
        serve({"/a.bin": DATA}, behaviour=Behaviour(stall=5.0)) as (url, log),
        pytest.raises(CosmosError, match="after 2 attempt"),
    ):
        _get(url + "/a.bin", dest, timeout=0.3, retries=1)
    assert time.monotonic() - started < 3.0
    assert len(log) == 2


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
