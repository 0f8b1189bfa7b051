"""Check a dataset before harmonizing it: read every case the way harmonize will and list every
problem at once, each with the card key that fixes it (nnU-Net checks a dataset's integrity
the same way before planning), so a card is right before an hour-long job, not after it.

A case is read alone (its part narrowed to its one image file), so one bad case stops only
itself: the check goes on and reports the next.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cosmos_bench.catalog.cards import Card, Part
from cosmos_bench.core.errors import CosmosError
from cosmos_bench.harmonize.adapters import Case, reader_for
from cosmos_bench.harmonize.adapters.pairs import case_fields, case_id, fill, image_files
from cosmos_bench.harmonize.orientation import Volume


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one case: what, the file, and the card key that fixes it."""

    case: str
    what: str
    path: str
    fix: str


@dataclass
class Report:
    """What the check saw: cases read, cases the card leaves out, and every problem."""

    cases: int = 0
    excluded: int = 0
    skipped: int = 0  # images without labels, left out because the card says `unlabelled: skip`
    problems: list[Problem] = field(default_factory=list)


def label_values(case: Case) -> set[int]:
    """The non-zero values of a case's label layers (one bincount per layer)."""
    values: set[int] = set()
    for layer in case.layers:
        array = np.asarray(layer.array if isinstance(layer, Volume) else layer)
        values |= set(np.flatnonzero(np.bincount(array.ravel().astype(np.int64))).tolist())
    return values - {0}


def label_file(raw: Path, part: Part, image: Path, case: str, dataset: str) -> Path:
    """The case's label file where the card's pattern names one file (else its image)."""
    fields = {**case_fields(image, part, raw, dataset), "case": case}
    label = raw / fill(part.format.get("labels", ""), **fields)
    return label if "{" not in str(label) and label.is_file() else image


def content_problems(case: Case, part: Part, image: Path) -> Iterator[Problem]:
    """What the card does not explain in a case that reads: no object, unmapped values or
    structure files. `image` is the file to name: the label file where there is one."""
    name = case.case_id + (f" {case.frame}" if case.frame else "")
    values = label_values(case)
    if not values:
        yield Problem(name, "its labels are empty (every value is 0)", str(image),
                      "if the case has no object, leave it out with format.exclude; "
                      "otherwise check format.labels")  # fmt: skip
    odd = sorted(values - set(part.value_objects)) if not part.instances else []
    if odd:
        yield Problem(name, f"label values {odd} are not in the card", str(image),
                      "add them to the card's labels (value: object) if they are objects; "
                      "harmonize leaves unmapped values out")  # fmt: skip
    if case.unmapped:
        yield Problem(name, f"structure files {list(case.unmapped)} are not in the card",
                      str(image), "add them to the card's structures (file name: object) if "
                      "they are objects")  # fmt: skip


def check_part(raw: Path, part: Part, dataset: str, report: Report) -> None:
    """Read each case of one part alone and add what is wrong with it to `report`."""
    skip = set(part.format.get("exclude", []))
    for image in image_files(raw, part, dataset):
        try:
            case = case_id(image, part, raw, dataset)
        except CosmosError as err:
            report.problems.append(Problem(image.name, err.what, err.path or "", err.fix or ""))
            continue
        if case in skip:
            report.excluded += 1
            continue
        literal = glob.escape(image.relative_to(raw).as_posix())
        alone = replace(part, format={**part.format, "exclude": [], "images": literal})
        try:
            read = list(reader_for(alone)(raw, alone, dataset))
        except CosmosError as err:
            report.cases += 1
            report.problems.append(Problem(case, err.what, err.path or str(image), err.fix or ""))
            continue
        report.cases += bool(read)
        report.skipped += not read
        for frame in read:
            named = label_file(raw, part, image, case, dataset)
            report.problems.extend(content_problems(frame, part, named))


def check_dataset(card: Card, raw: Path) -> Report:
    """Every problem of every case of a dataset's unpacked (or local) folder."""
    if not card.parts:
        raise CosmosError(
            f"the card has no label source: {card.raw['unresolved']}",
            dataset=card.id,
            fix="complete the card before checking its data",
        )
    if not raw.is_dir():
        raise CosmosError(
            f"no data folder at {raw}",
            dataset=card.id,
            fix=f"unpack it first: .venv/bin/snakemake --cores 1 results/raw/{card.id} "
            f"--config datasets=[{card.id}], or name the folder: --raw PATH",
        )
    report = Report()
    for part in card.parts:
        try:
            check_part(raw, part, card.id, report)
        except CosmosError as err:  # the part's pattern matches nothing
            report.problems.append(Problem(part.name or "-", err.what, err.path or "",
                                           err.fix or ""))  # fmt: skip
    return report


def report_lines(dataset: str, report: Report) -> list[str]:
    """The check as text: one heading, then each problem with its file and fix."""
    left_out = [f"{report.excluded} excluded by the card"] * bool(report.excluded) + [
        f"{report.skipped} without labels skipped (format.unlabelled: skip)"
    ] * bool(report.skipped)
    heading = f"{dataset}: {report.cases} cases read" + "".join(f", {x}" for x in left_out)
    if not report.problems:
        return [heading + "; no problem found"]
    lines = [f"{heading}; {len(report.problems)} problems:"]
    for problem in report.problems:
        lines += [f"case {problem.case}: {problem.what}", f"  file: {problem.path}",
                  f"  fix: {problem.fix}"]  # fmt: skip
    return lines
