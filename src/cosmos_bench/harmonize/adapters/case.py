"""What every adapter yields: a `Case` (image and label layers), and how overlapping structures
are packed into layers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from cosmos_bench.harmonize.orientation import Volume


@dataclass
class Case:
    """One patient/volume/source image (or one cine frame of it)."""

    case_id: str
    image: Volume | np.ndarray
    layers: list[Volume] | list[np.ndarray]
    spacing: tuple[float, float] | None = None  # 2D only; None when the source has no spacing
    frame: str = ""  # "t05" for the sixth frame of a cine series
    # structure files of the case that the card's `structures` map does not name (left out)
    unmapped: tuple[str, ...] = ()

    @property
    def is_3d(self) -> bool:
        return isinstance(self.image, Volume)


def pack_layers(masks: Iterable[tuple[int, np.ndarray]]) -> list[np.ndarray]:
    """Put (value, binary mask) pairs into as few label maps as possible without overlap.

    Greedy first fit in the given order: non-overlapping structures share layer 0, so the
    common case stays one label map; an overlapping one opens the next layer.
    """
    layers: list[np.ndarray] = []
    for value, mask in masks:
        for layer in layers:
            if not layer[mask].any():
                layer[mask] = value
                break
        else:
            layer = np.zeros(mask.shape, np.uint16)
            layer[mask] = value
            layers.append(layer)
    return layers
