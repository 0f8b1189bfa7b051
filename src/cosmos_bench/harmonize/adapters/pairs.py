"""Matching image files to their label files by a part's patterns."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

from cosmos_bench.catalog.cards import Part
from cosmos_bench.core.errors import CosmosError

MULTI_SUFFIXES = (".nii.gz", ".seg.nrrd", ".ppm.gz")


def stem(path: Path) -> str:
    """File name without its (possibly double) suffix."""
    for suffix in MULTI_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def image_files(root: Path, part: Part, dataset: str) -> list[Path]:
    """The part's images, sorted so that case order (and thus shards) is deterministic."""
    files = sorted(root.glob(part.format["images"]))
    if not files:
        raise CosmosError(
            f"no image matches '{part.format['images']}'"
            + (f" (part {part.name})" * bool(part.name)),
            dataset=dataset,
            path=str(root),
            fix="check the card's format.images pattern against the unpacked folder",
        )
    return files


def case_fields(image: Path, part: Part, root: Path, dataset: str) -> dict[str, str]:
    """The named groups of `case_regex` in the image's path ({} unless case_from: regex)."""
    if part.format.get("case_from") != "regex":
        return {}
    found = re.search(part.format["case_regex"], image.relative_to(root).as_posix())
    if not found:
        raise CosmosError(
            f"case_regex '{part.format['case_regex']}' does not match {image.name}",
            dataset=dataset,
            path=str(image),
            fix="fix format.case_regex; it is searched in the path below the unpacked folder",
        )
    return {"case": "_".join(found.groups()), **found.groupdict()}


def case_id(image: Path, part: Part, root: Path, dataset: str) -> str:
    """The case an image belongs to: its file stem (minus case_suffix), folder, or regex groups.

    nnU-Net and most 2D sets name the case by file, KiTS (`case_00012/imaging.nii.gz`) by
    folder, and CHAOS (`MR/3/T1DUAL/DICOM_anon/InPhase`) by a folder higher up; with several
    regex groups the case id joins them with `_` (Chest CT's patient and slice).
    """
    how = part.format.get("case_from", "stem")
    if how == "folder":
        return image.parent.name
    if how == "regex":
        return case_fields(image, part, root, dataset)["case"]
    case = stem(image)
    suffix = part.format.get("case_suffix", "")
    return case[: -len(suffix)] if suffix and case.endswith(suffix) else case


def cases(root: Path, part: Part, dataset: str) -> Iterator[tuple[str, Path]]:
    """(case id, image) of every image in the job's share of the part (Part.holds), minus the
    card's `format.exclude` (known defects of a release, each explained in the card's notes)."""
    skip = set(part.format.get("exclude", []))
    for image in image_files(root, part, dataset):
        case = case_id(image, part, root, dataset)
        if not part.holds(case):
            continue
        if case in skip:
            print(f"[{dataset}] case {case} excluded by the card", file=sys.stderr)
            continue
        yield case, image


def count_cases(root: Path, part: Part, dataset: str) -> int:
    """How many images (files or series folders) the part's pattern lists, less the card's
    exclusions, in the job's share: every adapter reads one source case from each, so this is
    the N of the console's "case k/N" before any file is opened."""
    skip = set(part.format.get("exclude", []))
    ids = (case_id(image, part, root, dataset) for image in image_files(root, part, dataset))
    return sum(case not in skip and part.holds(case) for case in ids)


def fill(pattern: str, **values: str) -> str:
    """Replace placeholders literally, in the order given: a structure name may itself contain
    `{case}` (IDRiD's `1. Microaneurysms/{case}_MA.tif`), so `name` goes first."""
    for key, value in values.items():
        pattern = pattern.replace("{" + key + "}", value)
    return pattern


def skips_unlabelled(part: Part) -> bool:
    """Whether the card says the release has unlabelled images (`unlabelled: skip`), so an
    image without a label file is counted and left out instead of stopping the dataset."""
    return part.format.get("unlabelled") == "skip"


def report_skipped(dataset: str, skipped: int) -> None:
    """Log how many unlabelled images were left out, so a skip is never silent."""
    if skipped:
        print(f"[{dataset}] {skipped} images without a label file skipped", file=sys.stderr)


def pairs(root: Path, part: Part, dataset: str) -> Iterator[tuple[str, Path, Path]]:
    """Yield (case id, image file, label file).

    A missing label file is an error, unless the card says the release has unlabelled images
    (`unlabelled: skip`, AbdomenCT-1K); then they are counted and reported.
    """
    skipped = 0
    for case, image in cases(root, part, dataset):
        fields = {**case_fields(image, part, root, dataset), "case": case}
        label = root / fill(part.format["labels"], **fields)
        if label.exists():
            yield case, image, label
        elif skips_unlabelled(part):
            skipped += 1
        else:
            raise CosmosError(
                f"image {image.name} has no label file",
                dataset=dataset,
                path=str(label),
                fix="check the card's format.labels pattern; if the release has unlabelled "
                "images, set format.unlabelled: skip",
            )
    report_skipped(dataset, skipped)
