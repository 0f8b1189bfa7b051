"""One binary file (or DICOM folder) per structure: TotalSegmentator, HaN-Seg, BrainPTM, I2CVB,
QUBIQ, Montgomery, IDRiD.

Structure k of the part's `structures` map gets label value k + 1; structures that overlap go to
separate label layers (see `pack_layers`), so none hides another.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Grid:
    """An image's voxel grid without its voxels, to resample structure files onto."""

    size: tuple[int, ...]
    origin: tuple[float, ...]
    spacing: tuple[float, ...]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image: sitk.Image) -> Grid:
        return cls(image.GetSize(), image.GetOrigin(), image.GetSpacing(), image.GetDirection())


def on_grid(mask: sitk.Image, grid: Grid) -> sitk.Image:
    """The mask on the image's voxel grid: a structure file cropped to its bounding box (or on
    a slightly different grid) is resampled by physical position, nearest neighbour."""
    same = (
        mask.GetSize() == grid.size
        and np.allclose(mask.GetOrigin(), grid.origin, atol=1e-3)
        and np.allclose(mask.GetSpacing(), grid.spacing, atol=1e-4)
        and np.allclose(mask.GetDirection(), grid.direction, atol=1e-4)
    )
    if same:
        return mask
    return sitk.Resample(
        mask,
        grid.size,
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        grid.origin,
        grid.spacing,
        grid.direction,
        0,
        mask.GetPixelID(),
    )


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
            read = (read_mask(path, part, dataset) > 0 for _, path in files)
            yield Case(case, image, _packed(files, read, image.shape[:2], case, dataset))
            continue
        volume_image = select_channel(read_volume(image_path, dataset), part)
        if is_2d(volume_image):  # a 2D NIfTI (QUBIQ's 2D tasks)
            image, spacing = as_2d(volume_image)
            read = (as_2d(read_volume(path, dataset))[0] > 0 for _, path in files)
            yield Case(case, image, _packed(files, read, image.shape, case, dataset), spacing)
            continue
        grid = Grid.of(volume_image)
        volume = canonical(volume_image)
        del volume_image
        read = (canonical(on_grid(read_volume(path, dataset), grid)).array > 0 for _, path in files)
        layers = _packed(files, read, volume.array.shape, case, dataset)
        yield Case(case, volume, [Volume(layer, volume.spacing) for layer in layers])


def _packed(
    files: list[tuple[int, Path]],
    masks: Iterator[np.ndarray],
    shape: tuple,
    case: str,
    dataset: str,
) -> list[np.ndarray]:
    """Pack structure masks one at a time: TotalSegmentator has 104 full-size files per case,
    and only the layers, never every mask, may be held at once."""

    def checked() -> Iterator[tuple[int, np.ndarray]]:
        for (value, path), mask in zip(files, masks, strict=True):
            if mask.shape != shape:
                raise CosmosError(
                    f"structure file {mask.shape} differs in size from the image {shape} "
                    f"in case {case}",
                    dataset=dataset,
                    path=str(path),
                    fix="the structure file does not belong to this image; check format.labels",
                )
            yield value, mask

    return pack_layers(checked())
