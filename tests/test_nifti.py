"""The NIfTI fast path (harmonize.adapters.nifti) against SimpleITK's reading and DICOMOrient:
the same arrays, types and spacing on every axis order and sign, from ITK and nibabel writers;
everything it does not take is left to SimpleITK; damaged files name themselves."""

from __future__ import annotations

import gzip
import itertools
import tarfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from helpers import write_volume

from cosmos_bench.core.errors import CosmosError
from cosmos_bench.harmonize.adapters.nifti import plain, read_plain
from cosmos_bench.harmonize.adapters.volumes import read_image
from cosmos_bench.harmonize.orientation import canonical, signed_permutation

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
SIGNED_PERMUTATIONS = [
    tuple(np.eye(3)[:, list(order)].dot(np.diag(signs)).ravel())
    for order in itertools.permutations(range(3))
    for signs in itertools.product((1.0, -1.0), repeat=3)
]


def slow(path: Path):
    return canonical(read_image(path, "toy"))


def fast(path: Path):
    source = plain(path)
    assert source is not None, f"{path.name} should take the fast path"
    return read_plain(source, "toy")


def assert_same(path: Path) -> None:
    a, b = fast(path), slow(path)
    assert a.array.dtype == b.array.dtype and a.array.shape == b.array.shape
    assert np.array_equal(a.array, b.array)
    assert a.spacing == pytest.approx(b.spacing, rel=1e-12)
    assert a.array.flags.c_contiguous and a.array.flags.writeable


@pytest.mark.parametrize("direction", SIGNED_PERMUTATIONS)
def test_every_axis_order_and_sign_is_oriented_as_dicomorient_does(tmp_path, direction) -> None:
    rng = np.random.default_rng(0)
    array = rng.integers(-1000, 2000, (5, 6, 7)).astype(np.int16)
    path = tmp_path / "v.nii.gz"
    write_volume(array, path, (0.7, 0.9, 2.5), direction)
    assert signed_permutation(direction) is not None
    assert_same(path)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int32", "float32", "float64"])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_every_scalar_type_compressed_or_not(tmp_path: Path, dtype: str, suffix: str) -> None:
    rng = np.random.default_rng(1)
    array = (rng.random((4, 9, 11)) * 120).astype(dtype)
    path = tmp_path / f"v{suffix}"
    write_volume(array, path, (1.0, 1.5, 3.0), (-1, 0, 0, 0, -1, 0, 0, 0, 1))
    assert_same(path)


@pytest.mark.parametrize("endianness", ["<", ">"])
def test_nibabel_files_in_either_byte_order(tmp_path: Path, endianness: str) -> None:
    """nibabel's files: a RAS affine in sform and qform, 352-byte offset, either byte order."""
    array = np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4)  # (x, y, z)
    header = nib.Nifti1Header(endianness=endianness)
    path = tmp_path / "nib.nii.gz"
    nib.save(nib.Nifti1Image(array, np.diag([0.8, 0.9, 2.0, 1.0]), header), path)
    assert_same(path)
    assert fast(path).array.dtype.isnative


def test_what_the_fast_path_leaves_to_simpleitk(tmp_path: Path) -> None:
    array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    scaled = nib.Nifti1Image(array.T.copy(), np.eye(4))
    scaled.header.set_slope_inter(2.0, -10.0)  # ITK hands back floats
    nib.save(scaled, tmp_path / "scaled.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((6, 5, 4, 3), np.int16), np.eye(4)), tmp_path / "4d.nii.gz")
    write_volume(array[:1], tmp_path / "one_slice.nii.gz", (1.0, 1.0, 1.0))
    write_volume(array, tmp_path / "v.mha", (1.0, 1.0, 1.0))
    tilt = np.cos(0.2), np.sin(0.2)
    oblique = (tilt[0], -tilt[1], 0, tilt[1], tilt[0], 0, 0, 0, 1)
    write_volume(array, tmp_path / "oblique.nii.gz", (1.0, 1.0, 1.0), oblique)
    (tmp_path / "junk.nii.gz").write_bytes(gzip.compress(b"not a header" * 50))
    for name in ("scaled", "4d", "one_slice", "oblique", "junk"):
        assert plain(tmp_path / f"{name}.nii.gz") is None, name
    assert plain(tmp_path / "v.mha") is None
    assert signed_permutation(oblique) is None


def test_a_damaged_volume_names_its_file(tmp_path: Path) -> None:
    """Cut inside the voxels (an interrupted download) or a flipped byte in the stream: the
    header still reads, the voxels do not, and the error says which file."""
    array = np.random.default_rng(2).integers(0, 3000, (6, 40, 40)).astype(np.int16)
    path = tmp_path / "ct.nii.gz"
    write_volume(array, path, (1.0, 1.0, 1.0))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CosmosError, match="damaged gzip stream") as err:
        read_plain(plain(path), "toy")
    assert "ct.nii.gz" in str(err.value)
    path.write_bytes(whole[:-9] + bytes([whole[-9] ^ 0xFF]) + whole[-8:])  # the CRC's data
    with pytest.raises(CosmosError, match="damaged gzip stream"):
        read_plain(plain(path), "toy")
    raw = tmp_path / "ct.nii"
    write_volume(array, raw, (1.0, 1.0, 1.0))
    raw.write_bytes(raw.read_bytes()[:-100])
    with pytest.raises(CosmosError, match="ends inside its voxels"):
        read_plain(plain(raw), "toy")


def test_the_demo_ct_volumes_read_the_same(tmp_path: Path) -> None:
    """Every NIfTI of the demo's CT archive, as the download stage unpacks it."""
    with tarfile.open(RESOURCES / "demo" / "demo-ct.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    files = sorted(tmp_path.rglob("*.nii.gz"))
    assert len(files) >= 2
    for path in files:
        assert_same(path)
