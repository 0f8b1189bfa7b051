"""Extract downloaded archives safely and atomically.

Archives come from public hosts: a member may try to escape the destination, link outside it, or
expand without bound. Everything is extracted into `<dest>.partial` and renamed only when complete,
so a failure never leaves a half-populated dataset folder that later rules would trust.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import py7zr
import py7zr.exceptions

from cosmos_bench.core.errors import CosmosError

CHUNK = 1 << 20
DEFAULT_MAX_BYTES = 200 * (1 << 30)
DEFAULT_MAX_MEMBERS = 2_000_000
DEFAULT_MAX_RATIO = 1000.0  # deflate tops out near 1032:1; mostly-zero label masks reach ~500:1
# Below this many bytes a member (or archive) may compress as well as it likes: a small all-zero
# file is no bomb, and capping its ratio would refuse harmless data.
RATIO_GRACE = 1 << 20
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
# Sources that are data files, not archives (ssTEM's TIFF stacks): copied as they are.
PLAIN_FILES = (".nii.gz", ".nii", ".tif", ".tiff", ".mhd", ".raw", ".nrrd", ".png", ".csv")
SUPPORTED = ".zip, .7z, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, .gz, or a plain " + ", ".join(
    PLAIN_FILES
)
# Decoders report damaged data with these; bz2 and gzip also raise OSError without an errno.
_CORRUPT = (
    zipfile.BadZipFile,
    tarfile.ReadError,
    tarfile.CompressionError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    py7zr.exceptions.ArchiveError,
    py7zr.exceptions.CrcError,
    py7zr.exceptions.DecompressionError,
)
_TAR_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


@dataclass
class _Guard:
    """Per-archive limits and context for error messages."""

    dataset: str
    archive: Path
    max_bytes: int
    max_members: int
    max_ratio: float
    packed: int  # the archive's size on disk: the denominator of the overall ratio
    members: int = 0
    size: int = 0

    def admit(self, name: str, size: int, packed: int | None = None) -> None:
        """Count one member before it is written; `packed` (zip only) lets its ratio be checked."""
        self.members += 1
        if self.members > self.max_members:
            raise self.refuse(name, f"the archive has more than {self.max_members} members")
        if packed is not None:
            self._check_ratio(name, "it", size, packed)
        self.grow(name, size)

    def grow(self, name: str, size: int) -> None:
        """Add output bytes; stop bombs by total size and overall ratio before the disk fills."""
        self.size += size
        if self.size > self.max_bytes:
            raise self.refuse(name, f"the archive expands beyond {self.max_bytes} bytes")
        self._check_ratio(name, "the archive", self.size, self.packed)

    def _check_ratio(self, name: str, what: str, size: int, packed: int) -> None:
        if size > RATIO_GRACE and size > self.max_ratio * packed:
            ratio = size / max(packed, 1)
            raise self.refuse(
                name,
                f"{what} expands {packed} bytes to {size} ({ratio:.0f}:1, limit "
                f"{self.max_ratio:.0f}:1): a likely zip bomb",
            )

    def refuse(self, name: str, why: str) -> CosmosError:
        return CosmosError(
            f"refused archive member {name!r}: {why}",
            dataset=self.dataset,
            path=str(self.archive),
            fix="the archive may be malicious or damaged: check its source and sha256 in the "
            "dataset card (raise max_bytes or max_ratio only if you trust the archive)",
        )


Extractor = Callable[[Path, Path, _Guard], None]



class CorruptArchiveError(CosmosError):
    """An archive that cannot be read to its end: truncated, or damaged at its source."""

def unpack(archive: Path, dest: Path, *, dataset: str, **limits: float) -> None:
    """Extract one archive into the folder `dest` (see unpack_all)."""
    unpack_all([(archive, "")], dest, dataset=dataset, **limits)


def unpack_all(
    archives: list[tuple[Path, str]],
    dest: Path,
    *,
    dataset: str,
    nested: tuple[str, ...] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    max_ratio: float = DEFAULT_MAX_RATIO,
) -> None:
    """Extract each (archive, sub-folder) into `dest`, replacing it only once all succeeded.

    `max_bytes` caps the total output and `max_ratio` the output per archive byte (per member too
    for zip, whose compressed sizes are known), so a bomb is refused before it fills the disk.
    A file that is no archive (a TIFF stack, a NIfTI) is copied as it is. `nested` archives
    (paths inside `dest`) are unpacked next to themselves, under the same limits, and removed.
    """
    partial = dest.with_name(dest.name + ".partial")
    _remove(partial)
    partial.mkdir(parents=True)
    for archive, _ in archives:
        if not archive.is_file():
            _remove(partial)
            raise CosmosError(
                "archive not found",
                dataset=dataset,
                path=str(archive),
                fix="rerun the download step for this dataset",
            )
    root = partial.resolve()
    jobs = [(archive, into, False) for archive, into in archives]
    jobs += [(root / inner, str(Path(inner).parent), True) for inner in nested]
    for archive, into, inside in jobs:
        try:
            if inside and not archive.is_file():
                raise CosmosError(
                    f"the nested archive {archive.relative_to(root)} is not in the source",
                    dataset=dataset,
                    fix="check source.nested in the card against the archive's contents",
                )
            size = archive.stat().st_size
            guard = _Guard(dataset, archive, max_bytes, max_members, max_ratio, size)
            target = _inside(root, into, guard)
            target.mkdir(parents=True, exist_ok=True)
            _extractor(archive, dataset)(archive, target, guard)
            if inside:
                archive.unlink()
        except BaseException as exc:
            _remove(partial)
            if _is_corrupt(exc):
                raise CorruptArchiveError(
                    f"the archive is corrupt or truncated ({type(exc).__name__}: {exc})",
                    dataset=dataset,
                    path=str(archive),
                    fix="fetch it again: delete it and the download's record (SHA256SUMS beside "
                    "it), then rerun",
                ) from exc
            raise
    _publish(partial, dest)


def link_tree(src: Path, dest: Path, names: list[str], *, dataset: str | None = None) -> None:
    """Mirror named files of a local source folder as absolute symlinks, published atomically."""
    base = src.resolve()
    partial = dest.with_name(dest.name + ".partial")
    _remove(partial)
    partial.mkdir(parents=True)
    try:
        for name in names:
            _link_one(base, partial, name, dataset)
    except BaseException:
        _remove(partial)
        raise
    _publish(partial, dest)


def _link_one(base: Path, root: Path, name: str, dataset: str | None) -> None:
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise CosmosError(
            f"refused file name {name!r}: it leaves the source folder",
            dataset=dataset,
            path=str(base),
            fix="list files by their path relative to the card's source.path",
        )
    target = base / rel
    if not target.is_file():
        raise CosmosError(
            f"file {name!r} is missing from the local source folder",
            dataset=dataset,
            path=str(target),
            fix="check the card's source.path points at the complete dataset folder",
        )
    link = root / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def _extractor(archive: Path, dataset: str) -> Extractor:
    """Pick the extractor from the name; `.nii.gz` is an image, not an archive."""
    name = archive.name.lower()
    if name.endswith(".zip"):
        return _extract_zip
    if name.endswith(".7z"):
        return _extract_7z
    if name.endswith(TAR_SUFFIXES):
        return _extract_tar
    if name.endswith(PLAIN_FILES):
        return _copy_as_is
    if name.endswith(".gz"):
        return _gunzip
    raise CosmosError(
        "unsupported archive format",
        dataset=dataset,
        path=str(archive),
        fix=f"supported formats are {SUPPORTED}; repack the file or fix its name in the card",
    )


def _extract_zip(archive: Path, root: Path, guard: _Guard) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        # zipfile never yields more than file_size bytes, so the declared sizes bound the output.
        for info in infos:
            guard.admit(info.filename, info.file_size, info.compress_size)
        for info in infos:
            _extract_zip_member(zf, info, root, guard)


def _extract_zip_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path, guard: _Guard
) -> None:
    target = _inside(root, info.filename, guard)
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if stat.S_ISLNK(info.external_attr >> 16):
        link = zf.read(info).decode("utf-8")
        _check_link(root, target.parent, link, info.filename, guard)
        target.symlink_to(link)
        return
    with zf.open(info) as src, target.open("wb") as out:
        shutil.copyfileobj(src, out, CHUNK)


def _extract_7z(archive: Path, root: Path, guard: _Guard) -> None:
    """7-Zip (AbdomenCT-1K's Mask.7z): every member vetted from the header before extraction."""
    with py7zr.SevenZipFile(archive) as zf:
        if zf.needs_password():
            raise guard.refuse(archive.name, "the 7z archive is password-protected")
        for info in zf.list():
            guard.admit(info.filename, info.uncompressed or 0, info.compressed or None)
            _inside(root, info.filename, guard)
            if info.is_symlink:
                raise guard.refuse(info.filename, "links in 7z archives are not extracted")
        zf.extractall(path=root)


def _extract_tar(archive: Path, root: Path, guard: _Guard) -> None:
    with tarfile.open(archive, "r:*") as tf:
        try:
            tf.extractall(root, members=_checked_members(tf, root, guard), **_TAR_FILTER)
        except tarfile.FilterError as exc:
            raise guard.refuse(exc.tarinfo.name, str(exc)) from exc


def _checked_members(tf: tarfile.TarFile, root: Path, guard: _Guard) -> Iterator[tarfile.TarInfo]:
    """Vet members while streaming, so a compressed tar is read once and a bomb stops early."""
    for member in tf:
        guard.admit(member.name, member.size)
        _inside(root, member.name, guard)
        if member.ischr() or member.isblk() or member.isfifo():
            raise guard.refuse(member.name, "device or special file")
        if member.issym():
            _check_link(root, (root / member.name).parent, member.linkname, member.name, guard)
        elif member.islnk():
            _check_link(root, root, member.linkname, member.name, guard)
        yield member


def _gunzip(archive: Path, root: Path, guard: _Guard) -> None:
    target = root / archive.name[: -len(".gz")]
    guard.admit(target.name, 0)
    with gzip.open(archive, "rb") as src, target.open("wb") as out:
        while block := src.read(CHUNK):
            guard.grow(target.name, len(block))
            out.write(block)


def _copy_as_is(archive: Path, root: Path, guard: _Guard) -> None:
    guard.admit(archive.name, archive.stat().st_size)
    shutil.copyfile(archive, root / archive.name)


def _inside(root: Path, name: str, guard: _Guard) -> Path:
    """Path of member `name` under `root`, refusing absolute names, `..` and symlink escapes."""
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise guard.refuse(name, "absolute path or '..' would escape the destination")
    target = root / rel
    if not target.resolve().is_relative_to(root):
        raise guard.refuse(name, "path leads outside the destination through a link")
    return target


def _check_link(root: Path, base: Path, link: str, name: str, guard: _Guard) -> None:
    """Refuse a link whose target, resolved from `base`, is absolute or outside `root`."""
    if PurePosixPath(link).is_absolute() or not (base / link).resolve().is_relative_to(root):
        raise guard.refuse(name, f"link to {link!r} points outside the destination")


def _is_corrupt(exc: BaseException) -> bool:
    """Damaged-data errors, as opposed to real I/O failures such as a full disk (errno set)."""
    return isinstance(exc, _CORRUPT) or (isinstance(exc, OSError) and exc.errno is None)


def _publish(partial: Path, dest: Path) -> None:
    """Swap the finished tree into place; the old tree is replaced, never merged."""
    _remove(dest)
    partial.rename(dest)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
