"""Format adapters: each reads one native dataset layout into cases.

An adapter yields `Case` objects; harmonization never sees a file format. A 3D case carries a
canonical `Volume` pair, a 2D case an image and a label map.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosmos_bench.catalog import Card
from cosmos_bench.volume import Volume


@dataclass
class Case:
    """One patient/volume/source image: either 3D (image, labels volumes) or 2D arrays."""

    case_id: str
    image: Volume | np.ndarray
    labels: Volume | np.ndarray
    spacing: tuple[float, float] | None = None  # 2D only; None when the source has no spacing

    @property
    def is_3d(self) -> bool:
        return isinstance(self.image, Volume)


Reader = Callable[[Path, Card], Iterator[Case]]


def reader_for(card: Card) -> Reader:
    """The adapter named by the card's format.adapter."""
    from cosmos_bench.adapters import images2d, medsam_npz, volumes

    return {
        "volume-pairs": volumes.read_cases,
        "image-mask-pairs": images2d.read_cases,
        "medsam-npz": medsam_npz.read_cases,
    }[card.format["adapter"]]
