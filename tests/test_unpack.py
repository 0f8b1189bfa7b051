"""unpack and link_tree: round trips, hostile members, corrupt archives, atomic publishing."""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from cosmos_bench.errors import CosmosError
from cosmos_bench.unpack import link_tree, unpack

FILES = {"a.txt": b"alpha" * 100, "sub/b.nii.gz": b"not really an image", "sub/deep/c.csv": b"1,2"}


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
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


def _assert_nothing_left(tmp_path: Path, dest: Path) -> None:
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".partial").exists()
    assert not (tmp_path / "evil").exists()


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


def test_zip_traversal_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", {"ok.txt": b"x", "../evil": b"boom"})
    dest = tmp_path / "out"
    with pytest.raises(CosmosError, match=r"refused archive member '\.\./evil'") as info:
        unpack(archive, dest, dataset="ds")
    assert "[ds]" in str(info.value)
    assert "a.zip" in str(info.value)
    _assert_nothing_left(tmp_path, dest)


@pytest.mark.parametrize("name", ["../evil", "sub/../../evil"])
def test_tar_traversal_refused(tmp_path: Path, name: str) -> None:
    archive = _tar(tmp_path / "a.tar.gz", [(_file("ok.txt"), b"x"), (_file(name), b"boom")])
    dest = tmp_path / "out"
    with pytest.raises(CosmosError, match="escape the destination"):
        unpack(archive, dest, dataset="ds")
    _assert_nothing_left(tmp_path, dest)


def test_absolute_path_refused(tmp_path: Path) -> None:
    target = tmp_path / "evil"
    archive = _tar(tmp_path / "a.tar", [(_file(str(target)), b"boom")], "w")
    dest = tmp_path / "out"
    with pytest.raises(CosmosError, match="absolute path"):
        unpack(archive, dest, dataset="ds")
    _assert_nothing_left(tmp_path, dest)


@pytest.mark.parametrize("target", ["../evil", "/etc/passwd", "sub/../../evil"])
def test_escaping_symlink_refused(tmp_path: Path, target: str) -> None:
    members = [(_link("link", target), b""), (_file("link/payload"), b"boom")]
    archive = _tar(tmp_path / "a.tar.gz", members)
    dest = tmp_path / "out"
    with pytest.raises(CosmosError, match="points outside the destination"):
        unpack(archive, dest, dataset="ds")
    _assert_nothing_left(tmp_path, dest)


def test_escaping_hardlink_refused(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tar", [(_link("h", "../evil", tarfile.LNKTYPE), b"")], "w")
    with pytest.raises(CosmosError, match="refused archive member 'h'"):
        unpack(archive, tmp_path / "out", dataset="ds")
    _assert_nothing_left(tmp_path, tmp_path / "out")


def test_escaping_zip_symlink_refused(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "../evil")
    with pytest.raises(CosmosError, match="points outside the destination"):
        unpack(archive, tmp_path / "out", dataset="ds")
    _assert_nothing_left(tmp_path, tmp_path / "out")


def test_device_file_refused(tmp_path: Path) -> None:
    device = _file("dev")
    device.type = tarfile.CHRTYPE
    archive = _tar(tmp_path / "a.tar", [(device, b"")], "w")
    with pytest.raises(CosmosError, match="device or special file"):
        unpack(archive, tmp_path / "out", dataset="ds")


def test_size_and_member_caps(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", {"big": b"\0" * 10_000, "small": b"x"})
    with pytest.raises(CosmosError, match="expands beyond 5000 bytes"):
        unpack(archive, tmp_path / "out", dataset="ds", max_bytes=5000)
    with pytest.raises(CosmosError, match="more than 1 members"):
        unpack(archive, tmp_path / "out", dataset="ds", max_members=1)
    _assert_nothing_left(tmp_path, tmp_path / "out")


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
    dest = tmp_path / "out"
    with pytest.raises(CosmosError, match="corrupt or truncated") as info:
        unpack(archive, dest, dataset="ds")
    assert "delete the archive" in str(info.value)
    assert name in str(info.value)
    _assert_nothing_left(tmp_path, dest)


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
