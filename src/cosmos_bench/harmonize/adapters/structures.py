"""One binary file (or DICOM folder) per structure: TotalSegmentator, HaN-Seg, BrainPTM, I2CVB,
QUBIQ, Montgomery, IDRiD.

Structure k of the part's `structures` map gets label value k + 1; structures that overlap go to
separate label layers (see `pack_layers`), so none hides another. Files the map does not name
are left out, and each case lists them (`Case.unmapped`) for the harmonize log and summary.
With `unlabelled: skip` an image without any structure file is counted and left out.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from cosmos_bench.catalog.cards import Part
from cosmos_bench.core.errors import CosmosError, mismatched
from cosmos_bench.harmonize.adapters.case import Case, pack_layers
from cosmos_bench.harmonize.adapters.images2d import SUFFIXES, read_image, read_mask
from cosmos_bench.harmonize.adapters.pairs import cases, fill, report_skipped, skips_unlabelled
from cosmos_bench.harmonize.adapters.volumes import as_2d, is_2d, select_channel
from cosmos_bench.harmonize.adapters.volumes import read_image as read_volume
from cosmos_bench.harmonize.orientation import Volume, canonical


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


def unmapped_structures(root: Path, part: Part, case: str, image: Path) -> tuple[str, ...]:
    """Names of the case's structure files that the `structures` map does not name, so that
    a left-out structure (TotalSegmentator's costal_cartilages) is reported, not lost silently.

    The files are those matching format.labels with `{name}` as one folder level per level of
    the map's names. Where the names hold `{case}` (IDRiD) one folder mixes every case's files,
    so no file can be told to belong to this case and none is reported."""
    pattern = part.format["labels"]
    if "{name}" not in pattern or any("{case}" in name for name in part.structures):
        return ()
    head, _, tail = fill(pattern, case=case).partition("{name}")
    found = set()
    for depth in {name.count("/") + 1 for name in part.structures}:
        wildcard = "/".join(["*"] * depth)
        for path in root.glob(glob.escape(head) + wildcard + glob.escape(tail)):
            relative = path.relative_to(root).as_posix()
            if path != image and relative.startswith(head) and relative.endswith(tail):
                found.add(relative[len(head) : len(relative) - len(tail)])
    return tuple(sorted(found - set(part.structures)))


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
    skipped = 0
    for case, image_path in cases(root, part, dataset):
        files = structure_files(root, part, case)
        if files:
            unmapped = unmapped_structures(root, part, case, image_path)
            yield replace(_read_case(case, image_path, files, part, dataset), unmapped=unmapped)
        elif skips_unlabelled(part):
            skipped += 1
        else:
            raise CosmosError(
                f"no structure file of case {case} exists",
                dataset=dataset,
                path=str(root / fill(part.format["labels"], name="*", case=case)),
                fix="check format.labels ({case}, {name}) and the structures map of the card; "
                "if the release has unlabelled images, set format.unlabelled: skip",
            )
    report_skipped(dataset, skipped)


def _read_case(
    case: str, image_path: Path, files: list[tuple[int, Path]], part: Part, dataset: str
) -> Case:
    """One image with its structure files packed into label layers."""
    if _is_picture(image_path):
        image = read_image(image_path, dataset)
        read = (read_mask(path, part, dataset) > 0 for _, path in files)
        return Case(case, image, _packed(files, read, image.shape[:2], case, dataset))
    volume_image = select_channel(read_volume(image_path, dataset), part)
    if is_2d(volume_image):  # a 2D NIfTI (QUBIQ's 2D tasks)
        image, spacing = as_2d(volume_image)
        read = (as_2d(read_volume(path, dataset))[0] > 0 for _, path in files)
        return Case(case, image, _packed(files, read, image.shape, case, dataset), spacing)
    grid = Grid.of(volume_image)
    volume = canonical(volume_image)
    del volume_image
    read = (canonical(on_grid(read_volume(path, dataset), grid)).array > 0 for _, path in files)
    layers = _packed(files, read, volume.array.shape, case, dataset)
    return Case(case, volume, [Volume(layer, volume.spacing) for layer in layers])


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
                what = (f"structure file {mask.shape} differs in size from the image {shape} "
                        f"in case {case}")  # fmt: skip
                raise mismatched(what, dataset=dataset, path=str(path))
            yield value, mask

    return pack_layers(checked())
