"""Matching image files to their label files by the card's patterns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cosmos_bench.catalog import Card
from cosmos_bench.errors import CosmosError

MULTI_SUFFIXES = (".nii.gz", ".seg.nrrd", ".ppm.gz")


def stem(path: Path) -> str:
    """File name without its (possibly double) suffix."""
    for suffix in MULTI_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def image_files(root: Path, card: Card) -> list[Path]:
    """The card's images, sorted so that case order (and thus shards) is deterministic."""
    files = sorted(root.glob(card.format["images"]))
    if not files:
        raise CosmosError(
            f"no image matches '{card.format['images']}'",
            dataset=card.id,
            path=str(root),
            fix="check the card's format.images pattern against the unpacked folder",
        )
    return files


def case_id(image: Path, card: Card) -> str:
    """The case an image belongs to: its file stem (minus case_suffix) or its folder's name.

    KiTS (`case_00012/imaging.nii.gz`) and TotalSegmentator (`s0001/ct.nii.gz`) name the case
    by folder; nnU-Net and most 2D sets by file name.
    """
    if card.format.get("case_from") == "folder":
        return image.parent.name
    case = stem(image)
    suffix = card.format.get("case_suffix", "")
    return case[: -len(suffix)] if suffix and case.endswith(suffix) else case


def pairs(root: Path, card: Card) -> Iterator[tuple[str, Path, Path]]:
    """Yield (case id, image file, label file); a missing label file is an error, not a skip."""
    for image in image_files(root, card):
        case = case_id(image, card)
        label = root / card.format["labels"].format(case=case)
        if not label.exists():
            raise CosmosError(
                f"image {image.name} has no label file",
                dataset=card.id,
                path=str(label),
                fix="check the card's format.labels pattern, or remove the unlabelled image",
            )
        yield case, image, label
