"""NIfTI image/label pairs (nnU-Net imagesTr/labelsTr and similar layouts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from cosmos_bench.adapters import Case
from cosmos_bench.adapters.pairs import pairs
from cosmos_bench.catalog import Card
from cosmos_bench.errors import CosmosError
from cosmos_bench.volume import canonical


def _read(path: Path, dataset: str) -> sitk.Image:
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise CosmosError(
            f"cannot read NIfTI file: {str(err).strip().splitlines()[-1]}",
            dataset=dataset,
            path=str(path),
            fix="the file is damaged; delete the dataset's downloads and unpacked folder and rerun",
        ) from err


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
