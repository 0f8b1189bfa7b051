"""Image/label file pairs in any format SimpleITK reads: NIfTI, NRRD, MetaImage, Analyze.

nnU-Net imagesTr/labelsTr, KiTS case folders, PROMISE12 .mhd pairs and pyradiomics NRRD pairs
all differ only in file patterns, which the card gives; orientation goes through one path.
2D files (CAMUS) become 2D cases; 4D files are split into cine frames, or one channel of a
multi-channel image (MSD BrainTumour, Prostate) is taken with `format.channel`.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from nibabel.filebasedimages import ImageFileError

from cosmos_bench.catalog.cards import Part
from cosmos_bench.core.errors import CosmosError, mismatched, unreadable
from cosmos_bench.harmonize.adapters.case import Case
from cosmos_bench.harmonize.adapters.nifti import plain, read_plain
from cosmos_bench.harmonize.adapters.pairs import pairs
from cosmos_bench.harmonize.orientation import Volume, canonical


def _check_gzip(path: Path, dataset: str) -> None:
    """Refuse a truncated .nii.gz, which SimpleITK silently zero-fills.

    Fast path: the gzip trailer's size field equals the size the NIfTI header announces, its
    data offset (nibabel's `dataobj.offset`: the header copy it hands out has `vox_offset`
    zeroed, so an ITK-written file, offset 352, never matched and was decompressed twice) plus
    the voxels (a truncated stream ends in compressed data, which matches with odds of 1 in
    2**32). Otherwise the stream is decompressed to the end, which also accepts multi-member
    files."""
    try:
        image = nib.load(path)
        header = image.header
        expected = int(image.dataobj.offset) + int(np.prod(header.get_data_shape())) * int(
            header["bitpix"] // 8
        )
        with path.open("rb") as stream:
            stream.seek(-4, 2)
            if struct.unpack("<I", stream.read(4))[0] == expected % (1 << 32):
                return
    except (ImageFileError, OSError, EOFError, ValueError, AttributeError, zlib.error):
        pass  # no NIfTI header nibabel reads: check the whole stream below
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 24):
                pass
    except (EOFError, OSError, zlib.error) as err:
        raise unreadable(f"damaged gzip stream ({err})", dataset=dataset, path=str(path)) from err


def read_series(folder: Path, dataset: str) -> sitk.Image:
    """A folder of DICOM files (one series, as TCIA and I2CVB ship them) as one volume."""
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
    if not files:
        raise unreadable("no DICOM series in the folder", dataset=dataset, path=str(folder))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    return reader.Execute()


def read_image(path: Path, dataset: str) -> sitk.Image:
    """Read any SimpleITK format or a DICOM series folder; errors name the file."""
    if path.name.endswith(".gz"):
        _check_gzip(path, dataset)
    try:
        if path.is_dir():
            return read_series(path, dataset)
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        reason = str(err).strip().splitlines()[-1]
        raise unreadable(reason, dataset=dataset, path=str(path)) from err


def frame(image: sitk.Image, t: int) -> sitk.Image:
    """The 3D volume at index t of a 4D image, keeping its 3D geometry."""
    size = list(image.GetSize())
    size[3] = 0
    extract = sitk.ExtractImageFilter()
    extract.SetSize(size)
    extract.SetIndex([0, 0, 0, t])
    extract.SetDirectionCollapseToStrategy(extract.DIRECTIONCOLLAPSETOSUBMATRIX)
    return extract.Execute(image)


def as_2d(image: sitk.Image) -> tuple[np.ndarray, tuple[float, float]]:
    """A 2D image (or a 3D one with a single slice) as an array and (row, col) spacing."""
    array = sitk.GetArrayFromImage(image)
    sx, sy = image.GetSpacing()[:2]
    return array.reshape(array.shape[-2:]), (sy, sx)


def is_2d(image: sitk.Image) -> bool:
    return image.GetDimension() == 2 or (image.GetDimension() == 3 and image.GetSize()[2] == 1)


def _mismatch(case: str, a: tuple, b: tuple, dataset: str, path: Path) -> CosmosError:
    what = f"image shape {a} differs from label shape {b} in case {case}"
    return mismatched(what, dataset=dataset, path=str(path))


def select_channel(image: sitk.Image, part: Part) -> sitk.Image:
    """The card's `format.channel` of a multi-channel 4D image (the image itself otherwise)."""
    if image.GetDimension() == 4 and "channel" in part.format:
        return frame(image, part.format["channel"])
    return image


def _frames(
    case: str, image: sitk.Image, labels: sitk.Image, part: Part, dataset: str, path: Path
) -> Iterator[tuple[str, sitk.Image, sitk.Image]]:
    """(frame id, 3D image, 3D labels): one per cine frame, or the selected channel."""
    if image.GetDimension() < 4:
        yield "", image, labels
        return
    if "channel" in part.format:
        yield "", select_channel(image, part), labels
        return
    if labels.GetDimension() != 4:
        raise CosmosError(
            f"4D image with {image.GetSize()[3]} volumes but a 3D label file in case {case}",
            dataset=dataset,
            path=str(path),
            fix="set format.channel to the image channel the labels belong to",
        )
    for t in range(image.GetSize()[3]):
        yield f"t{t:02d}", frame(image, t), frame(labels, t)


def _oriented_frames(
    case: str, image: sitk.Image, labels: sitk.Image, part: Part, dataset: str, path: Path
) -> Iterator[tuple[str, Volume, Volume]]:
    """(frame id, image, labels) of a 3D or 4D case read by SimpleITK, on LPS axes."""
    frames = list(_frames(case, image, labels, part, dataset, path))
    del image, labels  # the generator's frame must not pin the file's full-size copy
    while frames:
        frame_id, img3, lab3 = frames.pop(0)
        volume, label_volume = canonical(img3), canonical(lab3)
        del img3, lab3
        yield frame_id, volume, label_volume


def read_cases(root: Path, part: Part, dataset: str) -> Iterator[Case]:
    for case, image_path, label_path in pairs(root, part, dataset):
        fast = plain(image_path), plain(label_path)
        if fast[0] and fast[1]:
            volumes = iter([("", read_plain(fast[0], dataset), read_plain(fast[1], dataset))])
        else:
            image, labels = read_image(image_path, dataset), read_image(label_path, dataset)
            if is_2d(image) and is_2d(labels):
                img, spacing = as_2d(image)
                lab, _ = as_2d(labels)
                if img.shape != lab.shape:
                    raise _mismatch(case, img.shape, lab.shape, dataset, label_path)
                yield Case(case, img, [lab.astype(np.uint16)], spacing)
                continue
            volumes = _oriented_frames(case, image, labels, part, dataset, label_path)
            del image, labels
        for frame_id, volume, label_volume in volumes:
            if volume.array.shape != label_volume.array.shape:
                raise _mismatch(
                    case, volume.array.shape, label_volume.array.shape, dataset, label_path
                )
            yield Case(case, volume, [label_volume], frame=frame_id)
