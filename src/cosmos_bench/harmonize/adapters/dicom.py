"""DICOM series with per-slice 2D label images (CHAOS).

CHAOS pairs its ground-truth PNGs with the DICOM files by sorted file name, not by slice
position, so the series is assembled in file-name order; its geometry comes from the first and
last files' positions, and the label stack shares it, so orientation goes through one path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from cosmos_bench.catalog.cards import Part
from cosmos_bench.core.errors import CosmosError
from cosmos_bench.harmonize.adapters.case import Case
from cosmos_bench.harmonize.adapters.images2d import read_mask
from cosmos_bench.harmonize.adapters.pairs import cases, fill
from cosmos_bench.harmonize.adapters.volumes import read_image
from cosmos_bench.harmonize.orientation import canonical


def series_files(folder: Path, dataset: str) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise CosmosError(
            "empty DICOM series folder",
            dataset=dataset,
            path=str(folder),
            fix="check format.images: it must match series folders",
        )
    return files


def geometry(first: sitk.Image, last: sitk.Image, n: int) -> tuple[list[float], list[float]]:
    """(spacing, direction) of a stack of n slices from its first and last slice."""
    d = np.reshape(first.GetDirection(), (3, 3))
    sx, sy, sz = first.GetSpacing()
    if n > 1:
        step = (np.array(last.GetOrigin()) - np.array(first.GetOrigin())) / (n - 1)
        if np.linalg.norm(step) > 1e-6:
            sz = float(np.linalg.norm(step))
            d = d.copy()
            d[:, 2] = step / sz
    return [sx, sy, sz], [float(v) for v in d.ravel()]


def stack(arrays: list[np.ndarray], spacing, direction, origin) -> sitk.Image:
    image = sitk.GetImageFromArray(np.stack(arrays))
    image.SetSpacing(spacing)
    image.SetDirection(direction)
    image.SetOrigin(origin)
    return image


def read_cases(root: Path, part: Part, dataset: str) -> Iterator[Case]:
    for case, folder in cases(root, part, dataset):
        files = series_files(folder, dataset)
        label_files = sorted(root.glob(fill(part.format["labels"], case=case)))
        if len(label_files) != len(files):
            raise CosmosError(
                f"{len(files)} DICOM files but {len(label_files)} label images in case {case}",
                dataset=dataset,
                path=str(folder),
                fix="check format.labels; CHAOS pairs one ground-truth PNG per DICOM file",
            )
        slices = [read_image(f, dataset) for f in files]
        spacing, direction = geometry(slices[0], slices[-1], len(slices))
        origin = slices[0].GetOrigin()
        arrays = [sitk.GetArrayFromImage(s).reshape(s.GetSize()[1::-1]) for s in slices]
        masks = [read_mask(f, part, dataset) for f in label_files]
        if any(m.shape != a.shape for m, a in zip(masks, arrays, strict=True)):
            raise CosmosError(
                f"a label image's size differs from its DICOM slice in case {case}",
                dataset=dataset,
                path=str(label_files[0].parent),
                fix="the label folder does not belong to this series; check format.labels",
            )
        image = canonical(stack(arrays, spacing, direction, origin))
        labels = canonical(stack(masks, spacing, direction, origin))
        yield Case(case, image, [labels])
