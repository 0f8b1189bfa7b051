"""One 3D case of the volume store (propagation.volumes writes the store, the propagation
protocols read it): the contiguous stack of slices an object extent spans, and its label layers.

A file holds `image` (Z, H, W) uint8 or (Z, H, W, 3), `labels` (L, Z, H, W) uint16, and the
attributes `spacing` (sz, sy, sx) in mm and `first` (the source index of the stack's first
slice); one chunk per slice, gzip 1; written to a temporary name and renamed (core.atomic).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from cosmos_bench.core.atomic import replacing


@dataclass(frozen=True)
class StoredVolume:
    """A case's slice stack, its label layers, spacing and first slice."""

    image: np.ndarray
    labels: np.ndarray
    spacing: tuple[float, float, float]
    first: int


def write_volume(path: Path, volume: StoredVolume) -> None:
    """Write one case's volume file whole or not at all."""
    image, labels = volume.image, volume.labels
    with replacing(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("image", data=image, compression="gzip", compression_opts=1,
                         chunks=(1, *image.shape[1:]))  # fmt: skip
        f.create_dataset("labels", data=labels, compression="gzip", compression_opts=1,
                         chunks=(1, 1, *labels.shape[2:]))  # fmt: skip
        f.attrs["spacing"] = tuple(float(v) for v in volume.spacing)
        f.attrs["first"] = volume.first


def read_volume(path: Path) -> StoredVolume:
    """One case's volume file, read whole."""
    with h5py.File(path, "r") as f:
        spacing = tuple(float(v) for v in f.attrs["spacing"])
        return StoredVolume(f["image"][()], f["labels"][()], spacing, int(f.attrs["first"]))
