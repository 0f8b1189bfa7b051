"""NIfTI volumes read without SimpleITK's inflate and copy: the plain, most common case.

ITK reads the header (so spacing, direction and pixel type are ITK's own reading of it), ISA-L
inflates the voxels straight into the array that is returned, and a direction that is a signed
permutation becomes transposes and flips, which is what DICOMOrient does to such a grid
(orientation.canonical). SimpleITK inflates with zlib and then copies the volume into NumPy:
together 1.7x the time per CT volume (benchmarks/RESULTS.md). Anything else (oblique grids,
scaled or vector voxels, 2D and 4D files, other formats) is not plain and goes through
SimpleITK (volumes.read_image); tests/test_nifti.py holds both ways equal.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import SimpleITK as sitk
from isal import igzip

from cosmos_bench.core.errors import unreadable
from cosmos_bench.harmonize.orientation import Volume, on_lps_axes, signed_permutation

#: NIfTI datatype codes of scalar voxels, as NumPy type codes
DATATYPES = {
    2: "u1",
    4: "i2",
    8: "i4",
    16: "f4",
    64: "f8",
    256: "i1",
    512: "u2",
    768: "u4",
    1024: "i8",
    1280: "u8",
}
ITK_TYPES = {
    sitk.sitkUInt8: "u1",
    sitk.sitkInt8: "i1",
    sitk.sitkUInt16: "u2",
    sitk.sitkInt16: "i2",
    sitk.sitkUInt32: "u4",
    sitk.sitkInt32: "i4",
    sitk.sitkUInt64: "u8",
    sitk.sitkInt64: "i8",
    sitk.sitkFloat32: "f4",
    sitk.sitkFloat64: "f8",
}


#: inflated per call: a gzip reader's `readinto` reads into a new bytes object of the size asked
#: and copies it; 1 MiB ones are reused by the allocator, a volume-sized one is fresh memory
#: (a third of the time per CT volume)
CHUNK = 1 << 20


@dataclass(frozen=True)
class Plain:
    """A NIfTI file the fast path reads: where its voxels start, how they are stored, and the
    grid ITK reads from its header."""

    path: Path
    offset: int
    dtype: np.dtype  # in the file's byte order
    shape: tuple[int, int, int]  # (z, y, x), as stored
    spacing: tuple[float, float, float]  # (x, y, z), ITK's
    direction: tuple[float, ...]


def _open(path: Path) -> BinaryIO:
    return igzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def _header(path: Path) -> tuple[str, int, tuple[int, ...], int, float, float] | None:
    """(byte order, datatype, dim, voxel offset, scl_slope, scl_inter) of a single-file NIfTI-1
    header; None for anything else (SimpleITK reads no NIfTI-2)."""
    with _open(path) as stream:
        raw = stream.read(348)
    for order in "<>":
        if len(raw) == 348 and struct.unpack(order + "i", raw[:4])[0] == 348:
            if raw[344:348] != b"n+1\0":
                return None
            (datatype,) = struct.unpack(order + "h", raw[70:72])
            dim = struct.unpack(order + "8h", raw[40:56])
            offset, slope, inter = struct.unpack(order + "fff", raw[108:120])
            return order, datatype, dim, int(offset), slope, inter
    return None


def plain(path: Path) -> Plain | None:
    """The file as the fast path reads it, or None where SimpleITK must: only a 3D volume of
    scalar voxels that ITK hands back unscaled, in the type they are stored in, on a grid
    whose axes are the patient's (up to order and sign)."""
    if not path.name.endswith((".nii", ".nii.gz")) or not path.is_file():
        return None
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
        header = _header(path)
    except (RuntimeError, OSError, EOFError, zlib.error, struct.error):
        return None  # SimpleITK's reading says what is wrong
    if header is None or reader.GetDimension() != 3 or reader.GetNumberOfComponents() != 1:
        return None
    order, datatype, dim, offset, slope, inter = header
    size = tuple(reader.GetSize())
    stored = DATATYPES.get(datatype)
    plain_voxels = slope in (0.0, 1.0) and inter == 0.0 and stored is not None
    if not plain_voxels or ITK_TYPES.get(reader.GetPixelID()) != stored:
        return None
    if dim[0] != 3 or tuple(dim[1:4]) != size or size[2] == 1:
        return None
    if signed_permutation(reader.GetDirection()) is None:
        return None
    return Plain(
        path,
        offset,
        np.dtype(order + stored),
        size[::-1],
        tuple(reader.GetSpacing()),
        tuple(reader.GetDirection()),
    )


def read_plain(source: Plain, dataset: str) -> Volume:
    """Inflate the voxels into their array and orient it; a truncated or corrupt file raises
    with its name (the gzip trailer's CRC and size are checked at its end)."""
    array = np.empty(source.shape, source.dtype)
    buffer = memoryview(array).cast("B")
    try:
        with _open(source.path) as stream:
            stream.read(source.offset)
            filled = 0
            while filled < len(buffer):
                got = stream.readinto(buffer[filled : filled + CHUNK])
                if not got:
                    raise EOFError("the file ends inside its voxels")
                filled += got
            while stream.read(1 << 20):
                pass
    except (EOFError, OSError, zlib.error) as err:
        gz = source.path.name.endswith(".gz")
        reason = f"damaged gzip stream ({err})" if gz else str(err)
        raise unreadable(reason, dataset=dataset, path=str(source.path)) from err
    if not source.dtype.isnative:
        array = array.astype(source.dtype.newbyteorder("="))
    return on_lps_axes(array, source.spacing, source.direction)
