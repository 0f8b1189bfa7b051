"""HDF5 shards: a bounded group of one dataset's harmonized images and label maps.

Each image and its label layers are one HDF5 dataset each, with a single zstd chunk, so
reading one image decompresses exactly that image. A shard is written under a temporary name
and renamed when closed, so a killed job never leaves a file that looks complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

# zstd level 3 (hdf5plugin registers the filter for every reader that imports this module):
# as small as gzip 4 + shuffle on CT slices and 3x faster to write, 3x faster to read
# (benchmarks/bench_harmonize.py, benchmarks/RESULTS.md).
COMPRESSION = dict(hdf5plugin.Zstd(clevel=3))


def shard_name(k: int) -> str:
    return f"shard-{k:05d}.h5"


class ShardWriter:
    """Appends images to one shard file; `close()` makes it visible under its final name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.file = h5py.File(self.tmp, "w", track_order=True)
        self.rows = 0

    def append(self, uid: str, image: np.ndarray, labels: np.ndarray) -> int:
        """Store one image and its label layers (L, H, W); return its row in the shard."""
        row = self.rows
        for group, array in (("images", image), ("labels", labels)):
            ds = self.file.create_dataset(
                f"{group}/{row:05d}", data=array, chunks=array.shape, **COMPRESSION
            )
            ds.attrs["uid"] = uid
        self.rows += 1
        return row

    def close(self) -> None:
        self.file.attrs["n_images"] = self.rows
        self.file.close()
        os.replace(self.tmp, self.path)


class ShardReader:
    """Random access to a shard's images and label layers by row."""

    def __init__(self, path: Path) -> None:
        self.file = h5py.File(path, "r")
        self._cached_row = -1
        self._cached = np.zeros((0, 0, 0), np.uint16)
        self._mask_key = (-1, -1, -1)
        self._mask = np.zeros((0, 0), bool)

    def __enter__(self) -> ShardReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def image(self, row: int) -> np.ndarray:
        return self.file[f"images/{row:05d}"][()]

    def labels(self, row: int) -> np.ndarray:
        """The image's label layers (L, H, W)."""
        if row != self._cached_row:
            self._cached = self.file[f"labels/{row:05d}"][()]
            self._cached_row = row
        return self._cached

    def mask(self, row: int, layer: int, label: int) -> np.ndarray:
        """One object's binary mask, read-only to callers.

        The layers of an image are read once, and the last mask is kept: scoring asks for the
        same mask once per candidate and strategy, in a row."""
        if (row, layer, label) != self._mask_key:
            self._mask = self.labels(row)[layer] == label
            self._mask_key = (row, layer, label)
        return self._mask

    def uid(self, row: int) -> str:
        return str(self.file[f"images/{row:05d}"].attrs["uid"])
