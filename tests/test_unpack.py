"""unpack and link_tree: round trips, hostile members, bombs, corrupt archives, atomic publishing.

MALICIOUS lists the hostile archives (zip-slip, absolute paths, symlink and hardlink escapes,
device files, zip/tar/gz bombs); each must raise a CosmosError naming the archive and leave the
whole tmp_path listing unchanged, so nothing was written inside or outside the target folder.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from cosmos_bench.acquire.extract import DEFAULT_MAX_RATIO, RATIO_GRACE, link_tree, unpack
from cosmos_bench.core.errors import CosmosError

FILES = {"a.txt": b"alpha" * 100, "sub/b.nii.gz": b"not really an image", "sub/deep/c.csv": b"1,2"}


def _zip(path: Path, files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for info, data in members:
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _files_of(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_zip_round_trip(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    unpack(_zip(tmp_path / "a.zip", FILES), dest, dataset="ds")
    assert _files_of(dest) == FILES
    assert not (tmp_path / "out.partial").exists()


@pytest.mark.parametrize(
    ("suffix", "mode"),
    [
        (".tar.gz", "w:gz"),
        (".tgz", "w:gz"),
        (".tar", "w"),
        (".tar.bz2", "w:bz2"),
        (".tar.xz", "w:xz"),
    ],
)
def test_tar_round_trip(tmp_path: Path, suffix: str, mode: str) -> None:
    members = [(_file(name), data) for name, data in FILES.items()]
    members.append((_link("sub/alias.txt", "../a.txt"), b""))
    dest = tmp_path / "out"
    unpack(_tar(tmp_path / f"a{suffix}", members, mode), dest, dataset="ds")
    assert _files_of(dest) == FILES
    assert (dest / "sub" / "alias.txt").read_bytes() == FILES["a.txt"]


def test_single_gz_is_decompressed_but_nii_gz_is_copied(tmp_path: Path) -> None:
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(b"hello"))
    (tmp_path / "img.nii.gz").write_bytes(gzip.compress(b"voxels"))
    unpack(tmp_path / "notes.txt.gz", tmp_path / "n", dataset="ds")
    unpack(tmp_path / "img.nii.gz", tmp_path / "i", dataset="ds")
    assert (tmp_path / "n" / "notes.txt").read_bytes() == b"hello"
    assert (tmp_path / "i" / "img.nii.gz").read_bytes() == gzip.compress(b"voxels")


def _zip_link(folder: Path, target: str, *extra: tuple[str, bytes]) -> Path:
    """A zip whose member `link` is a symlink (unix mode in external_attr) to `target`."""
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = folder / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, target)
        for name, data in extra:
            zf.writestr(name, data)
    return archive


def _special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = _file(name)
    info.type = kind
    return info


def _zip_bomb(folder: Path) -> Path:
    """50 MB of zeros deflated to about 49 KB: a 1000:1 member, built in memory in ~0.2 s."""
    return _zip(folder / "bomb.zip", {"zeros.bin": bytes(50_000_000)})


def _tar_bomb(folder: Path) -> Path:
    return _tar(folder / "bomb.tar.gz", [(_file("zeros.bin"), bytes(50_000_000))])


def _bz2_bomb(folder: Path) -> Path:
    """bzip2 is not bounded like deflate (~1032:1): 50 MB of zeros shrink to a few hundred bytes."""
    return _tar(folder / "bomb.tar.bz2", [(_file("zeros.bin"), bytes(50_000_000))], "w:bz2")


def _many_small_bombs(folder: Path) -> Path:
    """64 bzip2 members of 512 KiB zeros: each under the ratio grace size, far above it together."""
    files = {f"zeros{i}.bin": bytes(1 << 19) for i in range(64)}
    return _zip(folder / "many.zip", files, zipfile.ZIP_BZIP2)


# id -> (build the archive inside the given folder, what the refusal must say)
MALICIOUS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "zip-slip-zip": (
        lambda d: _zip(d / "a.zip", {"ok.txt": b"x", "../evil": b"boom"}),
        r"refused archive member '\.\./evil'.*escape the destination",
    ),
    "zip-slip-zip-nested": (
        lambda d: _zip(d / "a.zip", {"sub/../../../../evil": b"boom"}),
        "escape the destination",
    ),
    "zip-slip-tar": (
        lambda d: _tar(d / "a.tar.gz", [(_file("ok.txt"), b"x"), (_file("../evil"), b"boom")]),
        "escape the destination",
    ),
    "zip-slip-tar-nested": (
        lambda d: _tar(d / "a.tar.gz", [(_file("sub/../../../evil"), b"boom")]),
        "escape the destination",
    ),
    "absolute-zip": (lambda d: _zip(d / "a.zip", {str(d / "evil"): b"boom"}), "absolute path"),
    "absolute-tar": (
        lambda d: _tar(d / "a.tar", [(_file(str(d / "evil")), b"boom")], "w"),
        "absolute path",
    ),
    "symlink-zip": (lambda d: _zip_link(d, "../evil"), "points outside the destination"),
    "symlink-zip-then-write": (
        lambda d: _zip_link(d, "../../..", ("link/evil", b"boom")),
        "points outside the destination",
    ),
    "symlink-tar-relative": (
        lambda d: _tar(d / "a.tar.gz", [(_link("link", "../.."), b""), (_file("link/e"), b"x")]),
        "points outside the destination",
    ),
    "symlink-tar-absolute": (
        lambda d: _tar(d / "a.tar.gz", [(_link("link", str(d)), b""), (_file("link/e"), b"x")]),
        "points outside the destination",
    ),
    "symlink-tar-nested": (
        lambda d: _tar(d / "a.tar.gz", [(_link("link", "sub/../../evil"), b"")]),
        "points outside the destination",
    ),
    "symlink-tar-chain": (
        lambda d: _tar(d / "a.tar", [(_link("a", "."), b""), (_link("a/b", ".."), b"")], "w"),
        r"refused archive member 'a/b'.*points outside",
    ),
    "hardlink-tar-relative": (
        lambda d: _tar(d / "a.tar", [(_link("h", "../evil", tarfile.LNKTYPE), b"")], "w"),
        r"refused archive member 'h'.*points outside",
    ),
    "hardlink-tar-absolute": (
        lambda d: _tar(d / "a.tar", [(_link("h", "/etc/passwd", tarfile.LNKTYPE), b"")], "w"),
        r"refused archive member 'h'.*points outside",
    ),
    "device-char": (
        lambda d: _tar(d / "a.tar", [(_special("dev", tarfile.CHRTYPE), b"")], "w"),
        "device or special file",
    ),
    "device-block": (
        lambda d: _tar(d / "a.tar", [(_special("dev", tarfile.BLKTYPE), b"")], "w"),
        "device or special file",
    ),
    "fifo": (
        lambda d: _tar(d / "a.tar", [(_special("pipe", tarfile.FIFOTYPE), b"")], "w"),
        "device or special file",
    ),
    "zip-bomb": (_zip_bomb, r"'zeros\.bin': it expands \d+ bytes to 50000000 \(\d+:1"),
    "zip-bomb-many-members": (_many_small_bombs, r"the archive expands .*limit 1000:1"),
    "tar-bomb": (_tar_bomb, r"'zeros\.bin': the archive expands .*zip bomb"),
    "tar-bz2-bomb": (_bz2_bomb, r"'zeros\.bin': the archive expands .*zip bomb"),
}


def _listing(root: Path) -> list[str]:
    """Every path under `root`, links not followed: proof that a refusal wrote nothing."""
    return sorted(
        os.path.relpath(os.path.join(top, name), root)
        for top, dirs, files in os.walk(root)
        for name in dirs + files
    )


def _refused(tmp_path: Path, archive: Path, match: str, **limits: int) -> str:
    """Unpack two folders deep; demand a CosmosError naming the archive and no change on disk."""
    dest = tmp_path / "site" / "data" / "out"
    dest.parent.mkdir(parents=True, exist_ok=True)
    before = _listing(tmp_path)
    with pytest.raises(CosmosError, match=match) as info:
        unpack(archive, dest, dataset="ds", **limits)
    assert _listing(tmp_path) == before
    message = str(info.value)
    assert "[ds]" in message
    assert f"file: {archive}" in message
    return message


@pytest.mark.parametrize("case", MALICIOUS)
def test_malicious_archive_writes_nothing(tmp_path: Path, case: str) -> None:
    build, match = MALICIOUS[case]
    assert "malicious" in _refused(tmp_path, build(tmp_path), match)


def _moderate(folder: Path, name: str) -> Path:
    """2 MiB of a repeated random 16 KiB block: compresses about 70:1, under the ratio cap."""
    payload = random.Random(0).randbytes(1 << 14) * 128
    if name.endswith(".zip"):
        return _zip(folder / name, {"big.bin": payload})
    return _tar(folder / name, [(_file("big.bin"), payload)])


@pytest.mark.parametrize("name", ["a.zip", "a.tar.gz"])
def test_bomb_under_ratio_but_over_max_bytes(tmp_path: Path, name: str) -> None:
    archive = _moderate(tmp_path, name)
    ratio = (2 << 20) / archive.stat().st_size
    assert 10 < ratio < DEFAULT_MAX_RATIO
    _refused(tmp_path, archive, "expands beyond 1048576 bytes", max_bytes=1 << 20)
    _refused(tmp_path, archive, "limit 10:1", max_ratio=10)
    unpack(archive, tmp_path / "out", dataset="ds")
    assert (tmp_path / "out" / "big.bin").stat().st_size == 2 << 20


def test_small_compressible_members_are_not_bombs(tmp_path: Path) -> None:
    mask = bytes(RATIO_GRACE // 2)  # ~1000:1 deflated, yet too small to be a bomb
    archive = _zip(tmp_path / "a.zip", {"empty_mask.raw": mask, "a.txt": b"a"})
    unpack(archive, tmp_path / "out", dataset="ds")
    assert (tmp_path / "out" / "empty_mask.raw").read_bytes() == mask


def test_size_and_member_caps(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", {"big": b"\0" * 10_000, "small": b"x"})
    _refused(tmp_path, archive, "expands beyond 5000 bytes", max_bytes=5000)
    _refused(tmp_path, archive, "more than 1 members", max_members=1)


@pytest.mark.parametrize("name", ["a.tar.gz", "a.tar", "a.zip"])
def test_truncated_archive(tmp_path: Path, name: str) -> None:
    payload = bytes(range(256)) * 400
    full = tmp_path / f"full-{name}"
    if name.endswith(".zip"):
        _zip(full, {"x.bin": payload})
    else:
        _tar(full, [(_file("x.bin"), payload)], "w:gz" if name.endswith("gz") else "w")
    archive = tmp_path / name
    archive.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert "fetch it again" in _refused(tmp_path, archive, "corrupt or truncated")


def test_stale_partial_removed_and_old_dest_replaced(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    (tmp_path / "out.partial").mkdir()
    (tmp_path / "out.partial" / "junk").write_bytes(b"junk")
    dest.mkdir()
    (dest / "old").write_bytes(b"old")
    unpack(_zip(tmp_path / "a.zip", FILES), dest, dataset="ds")
    assert _files_of(dest) == FILES


def test_unsupported_format(tmp_path: Path) -> None:
    (tmp_path / "a.rar").write_bytes(b"Rar!")
    with pytest.raises(CosmosError, match="unsupported archive format"):
        unpack(tmp_path / "a.rar", tmp_path / "out", dataset="ds")


def test_link_tree(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"a")
    (src / "sub" / "b.txt").write_bytes(b"b")
    (src / "unlisted.txt").write_bytes(b"u")
    dest = tmp_path / "linked"
    link_tree(src, dest, ["a.txt", "sub/b.txt"])
    link = dest / "sub" / "b.txt"
    assert link.is_symlink()
    assert Path(link.readlink()).is_absolute()
    assert link.read_bytes() == b"b"
    assert (dest / "a.txt").read_bytes() == b"a"
    assert not (dest / "unlisted.txt").exists()
    assert not (tmp_path / "linked.partial").exists()


def test_link_tree_failure_leaves_no_dest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    dest = tmp_path / "linked"
    with pytest.raises(CosmosError, match=r"'gone\.txt' is missing"):
        link_tree(src, dest, ["a.txt", "gone.txt"], dataset="ds")
    with pytest.raises(CosmosError, match="leaves the source folder"):
        link_tree(src, dest, ["../a.txt"], dataset="ds")
    assert not dest.exists()
    assert not (tmp_path / "linked.partial").exists()


def test_nested_archives_are_unpacked_in_place_and_removed(tmp_path: Path) -> None:
    """Kvasir-Instrument: a zip holding images.tar.gz and masks.tar.gz."""
    from cosmos_bench.acquire.extract import unpack_all

    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tf:
        info = tarfile.TarInfo("images/a.jpg")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"jpg"))
    outer = tmp_path / "kvasir-instrument.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.writestr("kvasir-instrument/images.tar.gz", inner.getvalue())
    dest = tmp_path / "raw"
    unpack_all([(outer, "")], dest, dataset="k", nested=("kvasir-instrument/images.tar.gz",))
    assert (dest / "kvasir-instrument" / "images" / "a.jpg").read_bytes() == b"jpg"
    assert not (dest / "kvasir-instrument" / "images.tar.gz").exists()
    with pytest.raises(CosmosError, match="nested archive"):
        unpack_all([(outer, "")], dest, dataset="k", nested=("kvasir-instrument/masks.tar.gz",))
    assert (dest / "kvasir-instrument" / "images" / "a.jpg").exists()  # old tree kept


def test_7z_archives_unpack_and_a_damaged_one_is_named(tmp_path: Path) -> None:
    import py7zr

    src = tmp_path / "Mask"
    src.mkdir()
    (src / "Case_00001.nii.gz").write_bytes(b"mask bytes" * 100)
    archive = tmp_path / "Mask.7z"
    with py7zr.SevenZipFile(archive, "w") as zf:
        zf.writeall(src, "Mask")
    unpack(archive, tmp_path / "raw", dataset="abdomenct-1k")
    assert (tmp_path / "raw" / "Mask" / "Case_00001.nii.gz").read_bytes() == b"mask bytes" * 100
    archive.write_bytes(archive.read_bytes()[:40])
    with pytest.raises(CosmosError, match="corrupt or truncated"):
        unpack(archive, tmp_path / "raw2", dataset="abdomenct-1k")
    assert not (tmp_path / "raw2").exists()
