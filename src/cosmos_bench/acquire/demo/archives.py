"""Reproducible archives (sorted members, fixed times and owners) and the file formats
inside them, as the demo's public counterparts ship them."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

_GZIP_LEVEL = 6


_ZIP_LEVEL = 6


_JPEG_QUALITY = 90


_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _parent_dirs(files: dict[str, bytes]) -> set[str]:
    """Every folder above the archive members, with a trailing slash, as real archives list."""
    return {str(parent) + "/" for name in files for parent in Path(name).parents[:-1]}


def _nifti_gz(data: np.ndarray, spacing: tuple[float, float, float]) -> bytes:
    """Gzipped NIfTI-1 bytes with qform = sform = diag(-sx, -sy, sz) and a gzip mtime of 0."""
    sx, sy, sz = spacing
    nx, ny, nz = data.shape
    affine = np.diag([-sx, -sy, sz, 1.0])
    affine[:3, 3] = (sx * (nx - 1) / 2, sy * (ny - 1) / 2, -sz * (nz - 1) / 2)
    img = nib.Nifti1Image(data, affine)
    img.header.set_data_dtype(data.dtype)
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    img.header["descrip"] = b"cosmos-bench synthetic demo CT"
    return gzip.compress(img.to_bytes(), compresslevel=_GZIP_LEVEL, mtime=0)


def _tar_gz(files: dict[str, bytes]) -> bytes:
    """A .tar.gz with sorted entries, zero mtimes/owners and an empty gzip name: reproducible."""
    dirs = _parent_dirs(files)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(dirs | set(files)):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if name in dirs:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.mode, info.size = 0o644, len(files[name])
                tar.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), compresslevel=_GZIP_LEVEL, mtime=0)


def _jpeg(pixels: np.ndarray) -> bytes:
    """JPEG bytes with fixed settings and no EXIF, like Kvasir-SEG's images and masks."""
    buf = io.BytesIO()
    Image.fromarray(pixels).convert("RGB").save(
        buf, format="JPEG", quality=_JPEG_QUALITY, subsampling=2, optimize=False, progressive=False
    )
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    """A .zip with sorted entries, a fixed date and Unix attributes: reproducible."""
    dirs = _parent_dirs(files)
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as zf:
        for name in sorted(dirs | set(files)):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.create_system = 3
            if name in dirs:
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
            else:
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, files[name], compresslevel=_ZIP_LEVEL)
    return raw.getvalue()
