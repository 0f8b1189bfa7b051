"""Format adapters: each reads one native dataset layout into cases.

An adapter yields `Case` objects and nothing else; harmonization never sees a file format.
A 3D case carries canonical `Volume`s, a 2D case arrays. Labels come as one or more label
maps ("layers"): one for almost every dataset, more only where a dataset's structures overlap
(one file per structure, as in HaN-Seg), so no mask is ever lost to another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosmos_bench.catalog.cards import Part
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


Reader = Callable[[Path, Part, str], Iterator[Case]]


def reader_for(part: Part) -> Reader:
    """The adapter named by the part's format.adapter."""
    from cosmos_bench.harmonize.adapters import (
        dicom,
        images2d,
        medsam_npz,
        structures,
        tiff_stack,
        volumes,
    )

    return {
        "volume-pairs": volumes.read_cases,
        "image-mask-pairs": images2d.read_cases,
        "medsam-npz": medsam_npz.read_cases,
        "dicom-series": dicom.read_cases,
        "tiff-stack": tiff_stack.read_cases,
        "structure-files": structures.read_cases,
    }[part.format["adapter"]]


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
