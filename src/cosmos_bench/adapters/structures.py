"""One binary file (or DICOM folder) per structure: TotalSegmentator, HaN-Seg, BrainPTM, I2CVB,
QUBIQ, Montgomery, IDRiD.

Structure k of the part's `structures` map gets label value k + 1; structures that overlap go to
separate label layers (see `pack_layers`), so none hides another.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from cosmos_bench.adapters import Case, pack_layers
from cosmos_bench.adapters.images2d import SUFFIXES, read_image, read_mask
from cosmos_bench.adapters.pairs import cases, fill
from cosmos_bench.adapters.volumes import as_2d, is_2d, select_channel
from cosmos_bench.adapters.volumes import read_image as read_volume
from cosmos_bench.catalog import Part
from cosmos_bench.errors import CosmosError
from cosmos_bench.volume import Volume, canonical


def _is_picture(path: Path) -> bool:
    return path.name.lower().endswith(SUFFIXES)


def structure_files(root: Path, part: Part, case: str) -> list[tuple[int, Path]]:
    """(label value, file) of each structure present in the case."""
    found = []
    for k, name in enumerate(part.structures):
        path = root / fill(part.format["labels"], name=name, case=case)
        if path.exists():
            found.append((k + 1, path))
    return found


def on_grid(mask: sitk.Image, grid: sitk.Image) -> sitk.Image:
    """The mask on the image's voxel grid: a structure file cropped to its bounding box (or on
    a slightly different grid) is resampled by physical position, nearest neighbour."""
    same = (
        mask.GetSize() == grid.GetSize()
        and np.allclose(mask.GetOrigin(), grid.GetOrigin(), atol=1e-3)
        and np.allclose(mask.GetSpacing(), grid.GetSpacing(), atol=1e-4)
        and np.allclose(mask.GetDirection(), grid.GetDirection(), atol=1e-4)
    )
    if same:
        return mask
    return sitk.Resample(mask, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0)


def read_cases(root: Path, part: Part, dataset: str) -> Iterator[Case]:
    for case, image_path in cases(root, part, dataset):
        files = structure_files(root, part, case)
        if not files:
            raise CosmosError(
                f"no structure file of case {case} exists",
                dataset=dataset,
                path=str(root / fill(part.format["labels"], name="*", case=case)),
                fix="check format.labels ({case}, {name}) and the structures map of the card",
            )
        if _is_picture(image_path):
            image = read_image(image_path, dataset)
            masks = [(v, read_mask(p, part, dataset) > 0) for v, p in files]
            _check_shapes(image.shape[:2], masks, case, dataset, image_path)
            yield Case(case, image, pack_layers(masks))
            continue
        grid = select_channel(read_volume(image_path, dataset), part)
        if is_2d(grid):  # a 2D NIfTI (QUBIQ's 2D tasks)
            image, spacing = as_2d(grid)
            masks = [(v, as_2d(read_volume(p, dataset))[0] > 0) for v, p in files]
            _check_shapes(image.shape, masks, case, dataset, image_path)
            yield Case(case, image, pack_layers(masks), spacing)
            continue
        volume = canonical(grid)
        masks = [(v, canonical(on_grid(read_volume(p, dataset), grid)).array > 0) for v, p in files]
        _check_shapes(volume.array.shape, masks, case, dataset, image_path)
        yield Case(case, volume, [Volume(layer, volume.spacing) for layer in pack_layers(masks)])


def _check_shapes(shape: tuple, masks: list[tuple[int, np.ndarray]], case, dataset, path) -> None:
    odd = [v for v, m in masks if m.shape != shape]
    if odd:
        raise CosmosError(
            f"structure files {odd} differ in size from the image {shape} in case {case}",
            dataset=dataset,
            path=str(path),
            fix="the structure files do not belong to this image; check format.labels",
        )
