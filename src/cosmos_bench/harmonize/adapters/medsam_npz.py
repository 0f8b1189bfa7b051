"""MedSAM-style npz volumes: keys imgs (D, H, W), gts (D, H, W), spacing (x, y, z)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from cosmos_bench.catalog.cards import Part
from cosmos_bench.core.errors import CosmosError
from cosmos_bench.harmonize.adapters.case import Case
from cosmos_bench.harmonize.adapters.pairs import image_files
from cosmos_bench.harmonize.orientation import canonical

REQUIRED = ("imgs", "gts", "spacing")


def _as_image(array: np.ndarray, npz: np.lib.npyio.NpzFile) -> sitk.Image:
    """Rebuild the SimpleITK image MedSAM exported, so orientation goes through one path."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing([float(s) for s in npz["spacing"]])
    if "direction" in npz:
        image.SetDirection([float(d) for d in np.ravel(npz["direction"])])
    if "origin" in npz:
        image.SetOrigin([float(o) for o in npz["origin"]])
    return image


def read_cases(root: Path, part: Part, dataset: str) -> Iterator[Case]:
    for path in image_files(root, part, dataset):
        if not part.holds(path.stem):
            continue
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in REQUIRED if k not in npz]
            if missing:
                raise CosmosError(
                    f"npz lacks keys {missing} (has {sorted(npz.keys())})",
                    dataset=dataset,
                    path=str(path),
                    fix="MedSAM npz volumes need imgs, gts and spacing",
                )
            image = canonical(_as_image(npz["imgs"], npz))
            labels = canonical(_as_image(npz["gts"].astype(np.uint16), npz))
        yield Case(path.stem, image, [labels])
