"""3D image/label file pairs in any format SimpleITK reads: NIfTI, NRRD, MetaImage, Analyze.

nnU-Net imagesTr/labelsTr, KiTS case folders, PROMISE12 .mhd pairs and pyradiomics NRRD pairs
all differ only in file patterns, which the card gives; orientation goes through one path.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from cosmos_bench.adapters import Case
from cosmos_bench.adapters.pairs import pairs
from cosmos_bench.catalog import Card
from cosmos_bench.errors import CosmosError, unreadable
from cosmos_bench.volume import canonical


def _check_gzip(path: Path, dataset: str) -> None:
    """Decompress to the end: SimpleITK silently zero-fills a truncated .nii.gz."""
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 24):
                pass
    except (EOFError, OSError, zlib.error) as err:
        raise unreadable(f"damaged gzip stream ({err})", dataset=dataset, path=str(path)) from err


def _read(path: Path, dataset: str) -> sitk.Image:
    if path.name.endswith(".gz"):
        _check_gzip(path, dataset)
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        reason = str(err).strip().splitlines()[-1]
        raise unreadable(reason, dataset=dataset, path=str(path)) from err


def read_cases(root: Path, card: Card) -> Iterator[Case]:
    for case, image_path, label_path in pairs(root, card):
        image = canonical(_read(image_path, card.id))
        labels = canonical(_read(label_path, card.id))
        if image.array.shape != labels.array.shape:
            raise CosmosError(
                f"image shape {image.array.shape} differs from label shape "
                f"{labels.array.shape} in case {case}",
                dataset=card.id,
                path=str(label_path),
                fix="the pair does not belong together; check the card's file patterns",
            )
        labels.array = labels.array.astype(np.uint16)
        yield Case(case, image, labels)
