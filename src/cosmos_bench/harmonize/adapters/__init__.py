"""Format adapters: each reads one native dataset layout into cases.

An adapter yields `Case` objects and nothing else; harmonization never sees a file format.
A 3D case carries canonical `Volume`s, a 2D case arrays. Labels come as one or more label
maps ("layers"): one for almost every dataset, more only where a dataset's structures overlap
(one file per structure, as in HaN-Seg), so no mask is ever lost to another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from cosmos_bench.catalog.cards import Part
from cosmos_bench.harmonize.adapters import (
    dicom,
    images2d,
    medsam_npz,
    structures,
    tiff_stack,
    volumes,
)
from cosmos_bench.harmonize.adapters.case import Case, pack_layers

__all__ = ["READERS", "Case", "Reader", "pack_layers", "reader_for"]


Reader = Callable[[Path, Part, str], Iterator[Case]]

READERS: dict[str, Reader] = {
    "volume-pairs": volumes.read_cases,
    "image-mask-pairs": images2d.read_cases,
    "medsam-npz": medsam_npz.read_cases,
    "dicom-series": dicom.read_cases,
    "tiff-stack": tiff_stack.read_cases,
    "structure-files": structures.read_cases,
}


def reader_for(part: Part) -> Reader:
    """The adapter named by the part's format.adapter."""
    return READERS[part.format["adapter"]]
