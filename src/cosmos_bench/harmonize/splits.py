"""Patient-level train / val / test splits: a seeded hash of (dataset, case), never of a slice.

Each case's split depends only on its own id, the seed and the ratios, so adding or removing
cases never moves another case, and every slice, part (e.g. an MR sequence) and object of one
patient falls into the same split. With few cases the realised fractions drift from the ratios
(three cases cannot be 70/10/20); the index records the split of every mask.
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


def split_of(dataset: str, case: str, ratios: SplitRatios = SplitRatios()) -> str:
    """The split of one case: its hash against the cumulative ratios."""
    u = unit_hash(ratios.seed, dataset, case)
    if u < ratios.train:
        return "train"
    return "val" if u < ratios.train + ratios.val else "test"
