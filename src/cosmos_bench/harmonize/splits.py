"""Patient-level train / val / test splits: a seeded hash of (dataset, cohort, case), never of a
slice.

A patient is a case id within a cohort: a card's parts that name one cohort share patients
(BraTS's four sequences, CHAOS's three MR series), parts of different cohorts do not
(TotalSegmentator's CT s0001 and MR s0001 are two people). Each patient's split depends only on
its own id, the seed and the ratios, so adding or removing cases never moves another case, and
every slice, part and object of one patient falls into the same split. With few cases the
realised fractions drift from the ratios (three cases cannot be 70/10/20); the index records the
split of every mask.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitRatios:
    """Fractions of cases per split (they must sum to 1) and the hash seed."""

    train: float = 0.7
    val: float = 0.1
    test: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        ratios = (self.train, self.val, self.test)
        if min(ratios) < 0 or abs(sum(ratios) - 1.0) > 1e-9:
            raise ValueError(f"split ratios must be >= 0 and sum to 1, got {ratios}")


def unit_hash(seed: int, dataset: str, case: str) -> float:
    """A uniform number in [0, 1) from the seed and the case's identity (64 bits of sha256)."""
    digest = hashlib.sha256(f"{seed}/{dataset}/{case}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def patient(cohort: str, case: str) -> str:
    """A case's patient within its dataset: `cohort/case` (a part's cohort defaults to the part's
    name); the single-part shorthand has cohort '' and the case id is the patient."""
    return f"{cohort}/{case}" if cohort else case


def split_of(dataset: str, case: str, ratios: SplitRatios = SplitRatios()) -> str:
    """The split of one patient (`patient(cohort, case)`): its hash against the cumulative
    ratios."""
    u = unit_hash(ratios.seed, dataset, case)
    if u < ratios.train:
        return "train"
    return "val" if u < ratios.train + ratios.val else "test"
