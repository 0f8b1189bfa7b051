"""2D image/mask pairs (PNG, JPEG, TIFF, BMP): fundus, endoscopy, dermoscopy, X-ray, US."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from cosmos_bench.adapters import Case
from cosmos_bench.adapters.pairs import pairs
from cosmos_bench.catalog import Card
from cosmos_bench.errors import CosmosError, unreadable


def _open(path: Path, dataset: str) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except OSError as err:
        raise unreadable(str(err), dataset=dataset, path=str(path)) from err
    return image


def read_image(path: Path, dataset: str) -> np.ndarray:
    """uint8 grey (H, W) or RGB (H, W, 3); alpha dropped, palette expanded."""
    image = _open(path, dataset)
    if image.mode in ("L", "RGB"):
        return np.asarray(image)
    if image.mode in ("I;16", "I", "F"):
        return np.asarray(image)
    return np.asarray(image.convert("RGB"))


def read_mask(path: Path, card: Card) -> np.ndarray:
    """Label values per pixel; lossy masks are thresholded to the card's single label."""
    mask = np.asarray(_open(path, card.id))
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    threshold = card.format.get("mask_threshold")
    if threshold is None:
        return mask.astype(np.uint16)
    (value,) = card.labels
    return np.where(mask >= threshold, value, 0).astype(np.uint16)


def read_cases(root: Path, card: Card) -> Iterator[Case]:
    for case, image_path, label_path in pairs(root, card):
        image = read_image(image_path, card.id)
        labels = read_mask(label_path, card)
        if image.shape[:2] != labels.shape:
            raise CosmosError(
                f"image {image.shape[:2]} and mask {labels.shape} sizes differ in case {case}",
                dataset=card.id,
                path=str(label_path),
                fix="check the card's file patterns; resize nothing by hand",
            )
        yield Case(case, image, labels)
