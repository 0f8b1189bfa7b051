"""2D image/mask pairs (PNG, JPEG, TIFF, BMP, GIF, PPM, .ppm.gz): fundus, endoscopy, X-ray, US."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from cosmos_bench.catalog.cards import Part
from cosmos_bench.core.errors import CosmosError, mismatched, unreadable
from cosmos_bench.harmonize.adapters.case import Case
from cosmos_bench.harmonize.adapters.pairs import pairs

SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".ppm", ".ppm.gz")
CHANNEL_ON = 128  # mask_channels: a channel marks its label where it is at least this bright


def open_2d(path: Path, dataset: str) -> Image.Image:
    """Open a 2D image; STARE's `.ppm.gz` is decompressed first."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as stream:
                image = Image.open(io.BytesIO(stream.read()))
        else:
            image = Image.open(path)
        image.load()
    except (OSError, EOFError) as err:
        raise unreadable(str(err), dataset=dataset, path=str(path)) from err
    return image


def as_array(image: Image.Image) -> np.ndarray:
    """uint8 grey (H, W) or RGB (H, W, 3) (16-bit grey kept); alpha dropped, palette expanded."""
    if image.mode in ("L", "RGB", "I;16", "I", "F"):
        return np.asarray(image)
    if image.mode == "1":
        return np.asarray(image.convert("L"))
    return np.asarray(image.convert("RGB"))


def read_image(path: Path, dataset: str) -> np.ndarray:
    return as_array(open_2d(path, dataset))


def read_mask(path: Path, part: Part, dataset: str) -> np.ndarray:
    """Label values per pixel: channels split, lossy masks thresholded to the single label."""
    image = open_2d(path, dataset)
    if image.mode == "P":  # palette masks (DRIVE's GIFs) carry their values in the palette
        image = image.convert("RGB" if image.palette.mode == "RGB" else "L")
    mask = as_array(image)
    if part.format.get("mask_channels"):
        if mask.ndim != 3:
            raise CosmosError(
                "format.mask_channels is set but the mask is not RGB",
                dataset=dataset,
                path=str(path),
                fix="remove mask_channels from the card, or point labels at the RGB masks",
            )
        out = np.zeros(mask.shape[:2], np.uint16)
        for c in range(mask.shape[2]):
            out[mask[..., c] >= CHANNEL_ON] = c + 1
        return out
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    if part.format.get("mask_invert"):  # ADAM/PALM: the object is black on white
        mask = mask.max(initial=255) - mask
    threshold = part.format.get("mask_threshold")
    if threshold is None:
        return mask.astype(np.uint16)
    (value,) = part.labels or {1: None}
    return np.where(mask >= threshold, value, 0).astype(np.uint16)


def same_size(image: np.ndarray, labels: np.ndarray, case: str, dataset: str, path: Path) -> None:
    if image.shape[:2] != labels.shape[-2:]:
        what = f"image {image.shape[:2]} and mask {labels.shape[-2:]} sizes differ in case {case}"
        raise mismatched(what, dataset=dataset, path=str(path))


def read_cases(root: Path, part: Part, dataset: str) -> Iterator[Case]:
    for case, image_path, label_path in pairs(root, part, dataset):
        image = read_image(image_path, dataset)
        labels = read_mask(label_path, part, dataset)
        same_size(image, labels, case, dataset, label_path)
        yield Case(case, image, [labels])
