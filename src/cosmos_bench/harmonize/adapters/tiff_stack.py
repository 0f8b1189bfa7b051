"""Multi-page TIFF stacks (EM: EPFL hippocampus, ISBI 2012 ssTEM): one page per slice.

The stacks carry no physical spacing, so spacing is unknown (NaN), as for most 2D sets.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

from cosmos_bench.catalog.cards import Part
from cosmos_bench.core.errors import mismatched, unreadable
from cosmos_bench.harmonize.adapters.case import Case
from cosmos_bench.harmonize.adapters.images2d import as_array
from cosmos_bench.harmonize.adapters.pairs import pairs
from cosmos_bench.harmonize.orientation import Volume

UNKNOWN = (float("nan"),) * 3


def read_stack(path: Path, dataset: str) -> np.ndarray:
    """All pages as a (z, y, x) array."""
    try:
        with Image.open(path) as tif:
            pages = [as_array(page.copy()) for page in ImageSequence.Iterator(tif)]
    except (OSError, EOFError) as err:
        raise unreadable(str(err), dataset=dataset, path=str(path)) from err
    return np.stack([p if p.ndim == 2 else p.max(axis=2) for p in pages])


def read_cases(root: Path, part: Part, dataset: str) -> Iterator[Case]:
    for case, image_path, label_path in pairs(root, part, dataset):
        image, labels = read_stack(image_path, dataset), read_stack(label_path, dataset)
        if image.shape != labels.shape:
            what = f"image stack {image.shape} and label stack {labels.shape} differ in case {case}"
            raise mismatched(what, dataset=dataset, path=str(label_path))
        yield Case(case, Volume(image, UNKNOWN), [Volume(labels.astype(np.uint16), UNKNOWN)])
