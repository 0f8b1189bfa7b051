"""Writers for mimic archives: tiny files in a dataset's real layout, names and formats.

Every mimic is deterministic (fixed seeds, fixed archive timestamps), so a mimic test that
passes once passes always. Label geometry is made so that every label survives the COSMOS
filter (more than 50 pixels in at least one slice).
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from PIL import Image

EPOCH = (2020, 1, 1, 0, 0, 0)


def discs(shape: tuple[int, int], values: Iterable[int], radius: int | None = None) -> np.ndarray:
    """A 2D label map with one disc per value, laid out left to right without overlap."""
    values = list(values)
    h, w = shape
    n = max(1, len(values))
    r = radius or max(5, min(h // 4, w // (2 * n + 1)))
    yy, xx = np.mgrid[:h, :w]
    out = np.zeros(shape, np.uint16)
    for i, v in enumerate(values):
        cx = (2 * i + 1) * w // (2 * n)
        out[(yy - h // 2) ** 2 + (xx - cx) ** 2 <= r * r] = v
    return out


def volume(
    values: Iterable[int], shape=(6, 48, 48), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(image int16, labels uint16) (z, y, x): each value a disc in slices 1..z-2, distinct HU."""
    values = list(values)
    labels = np.zeros(shape, np.uint16)
    for z in range(1, shape[0] - 1):
        labels[z] = discs(shape[1:], values)
    rng = np.random.default_rng(seed)
    image = rng.normal(0, 10, shape)
    for i, v in enumerate(values):
        image[labels == v] += 100 + 40 * i
    return image.astype(np.int16), labels


def picture(labels: np.ndarray, rgb: bool = True, seed: int = 0) -> np.ndarray:
    """A uint8 image (RGB or grey) whose objects are brighter than the background."""
    rng = np.random.default_rng(seed)
    grey = rng.integers(20, 60, labels.shape).astype(np.int32)
    grey[labels > 0] += 120
    grey = np.clip(grey, 0, 255).astype(np.uint8)
    return np.stack([grey, grey // 2 + 40, grey // 3 + 20], axis=-1) if rgb else grey


def write_sitk(array: np.ndarray, path: Path, spacing=(1.0, 1.0, 2.0), direction=None) -> None:
    """A (z, y, x) or (y, x) array as NIfTI, NRRD (.nrrd/.seg.nrrd), MetaImage (.mhd) or 4D NIfTI.

    For 4D pass a (t, z, y, x) array: NIfTI stores it as x, y, z, t (cine frames).
    """
    image = sitk.GetImageFromArray(array, isVector=False)
    if array.ndim == 4:
        spacing = (*spacing, 1.0)[:4]
    image.SetSpacing([float(s) for s in spacing[: image.GetDimension()]])
    if direction is not None:
        image.SetDirection(direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=path.name.endswith((".gz", ".nrrd")))


def write_analyze(array_zyx: np.ndarray, path: Path, spacing=(1.0, 1.0, 2.0)) -> None:
    """An Analyze 7.5 .hdr/.img pair (iSeg 2017/2019), written by nibabel."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.ascontiguousarray(np.transpose(array_zyx, (2, 1, 0)))
    img = nib.AnalyzeImage(data, np.diag([*spacing, 1.0]))
    nib.save(img, str(path))


def write_2d(array: np.ndarray, path: Path) -> None:
    """PNG, JPEG, TIFF, BMP, GIF or PPM by suffix; `.gz` after the suffix gzips it (STARE)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name[: -len(".gz")] if path.name.endswith(".gz") else path.name
    fmt = {
        "png": "PNG",
        "jpg": "JPEG",
        "jpeg": "JPEG",
        "tif": "TIFF",
        "tiff": "TIFF",
        "bmp": "BMP",
        "gif": "GIF",
        "ppm": "PPM",
    }[name.rsplit(".", 1)[1].lower()]
    arr = array
    if arr.dtype != np.uint8 and fmt in ("JPEG", "BMP", "GIF", "PPM"):
        arr = arr.astype(np.uint8)
    image = Image.fromarray(arr)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    data = buf.getvalue()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


def write_tiff_stack(array_zyx: np.ndarray, path: Path) -> None:
    """A multi-page TIFF, one page per slice (EM stacks)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pages = [Image.fromarray(np.ascontiguousarray(a)) for a in array_zyx]
    pages[0].save(path, format="TIFF", save_all=True, append_images=pages[1:])


def write_dicom_series(
    array_zyx: np.ndarray, folder: Path, names: list[str], spacing=(0.8, 0.8, 3.0)
) -> None:
    """One axial CT slice per file (pydicom), names in slice order; LPS identity orientation."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series = generate_uid(entropy_srcs=[str(folder)])
    for k, (plane, name) in enumerate(zip(array_zyx, names, strict=True)):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(folder), str(k)])
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / name), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = series
        ds.StudyInstanceUID = series
        ds.Modality = "CT"
        ds.PatientID = folder.parent.name
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(k * spacing[2])]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing[1], spacing[0]]
        ds.SliceThickness = spacing[2]
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.PixelData = np.ascontiguousarray(plane.astype(np.int16)).tobytes()
        pydicom.dcmwrite(folder / name, ds, enforce_file_format=True)


def zip_tree(src: Path, archive: Path) -> None:
    """Zip a folder with fixed timestamps and sorted members (byte-deterministic)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(path.relative_to(src).as_posix(), EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())


def tar_tree(src: Path, archive: Path) -> None:
    """Tar a folder (.tar, .tar.gz/.tgz by suffix) with fixed metadata."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    mode = "w:gz" if archive.name.endswith((".gz", ".tgz")) else "w"
    with tarfile.open(archive, mode) as tf:
        for path in sorted(src.rglob("*")):
            info = tf.gettarinfo(str(path), path.relative_to(src).as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if path.is_file():
                with path.open("rb") as fh:
                    tf.addfile(info, fh)
            else:
                tf.addfile(info)
