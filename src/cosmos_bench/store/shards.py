"""HDF5 shards: a bounded group of one dataset's harmonized images and label maps.

Each image and its label layers are one HDF5 dataset each, with a single chunk, so reading
one image decompresses exactly that image. A shard is written under a temporary name and
renamed when closed, so a killed job never leaves a file that looks complete.

Codecs (`harmonize.codec`), all lossless, through HDF5 filters that hdf5plugin registers for
every reader importing this module; label layers always through zstd 3:
- `rowdelta`: each image row stored as its difference from the row above (mod 256: PNG's "Up"
  filter, the `predictor` attribute says so) through zstd 1; the reader sums the rows back. The
  prediction is what makes PNG beat generic codecs on noisy grey slices; without PNG's
  per-row filter search it is 5x as fast as JPEG-LS to write and to read, at PNG's size.
- `jpegls`: images through JPEG-LS (CharLS, hdf5plugin's FciDecomp filter), which predicts each
  pixel from three neighbours: the smallest files, the slowest to write and to read. RGB images
  are stored planar (3, H, W), the layout the filter takes, and handed back as (H, W, 3).
- `zstd`: images through zstd 3, no prediction: larger than PNG.
benchmarks/RESULTS.md compares them.

An image shrunk by the longest-side cap also keeps its label layers at the source's size
(`native/`, zstd), so masks are scored where the paper scores them (score.resolution).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import hdf5plugin
import imagecodecs
import numpy as np

# zstd 3: as small as gzip 4 + shuffle on CT slices, 3x faster to write and to read
ZSTD = dict(hdf5plugin.Zstd(clevel=3))
ZSTD_FAST = dict(hdf5plugin.Zstd(clevel=1))  # after the row prediction: level 3 saves ~1 %
JPEGLS = dict(hdf5plugin.FciDecomp())
CODECS = ("rowdelta", "jpegls", "zstd")
ROW_DELTA = "up"  # the `predictor` attribute of an image stored as row differences
JPEGLS_SIDES = (16, 65535)  # the sizes the JPEG-LS filter encodes; others fall back to zstd


def shard_name(k: int) -> str:
    return f"shard-{k:05d}.h5"


def fresh_outputs(index_path: Path, shard_dir: Path) -> Path:
    """Remove what an earlier (perhaps killed) run left, and return the empty
    `<shard_dir>.partial` folder the shards are written into, renamed when complete."""
    partial = shard_dir.with_name(shard_dir.name + ".partial")
    for stale in (shard_dir, partial):
        if stale.exists():
            shutil.rmtree(stale)
    index_path.unlink(missing_ok=True)
    partial.mkdir(parents=True)
    return partial


class ShardWriter:
    """Appends images to one shard file; `close()` makes it visible under its final name."""

    def __init__(self, path: Path, codec: str = "rowdelta") -> None:
        if codec not in CODECS:
            raise ValueError(f"unknown shard codec {codec!r}; choose from {CODECS}")
        self.path = path
        self.codec = codec
        self.tmp = path.with_name(path.name + ".tmp")
        self.file = h5py.File(self.tmp, "w")
        self.rows = 0
        self._made: dict[tuple, h5py.h5p.PropDCID] = {}

    def _zstd(self, name: str, data: np.ndarray, codec: dict) -> h5py.h5d.DatasetID:
        """A single-chunk dataset of `data` through `codec` (HDF5's zstd filter at a level).

        The chunk is compressed here and written as the filter would store it (readers decode
        it through the filter), and the creation properties are made once per shape, dtype
        and level, then reused in HDF5's own calls: h5py's checks for every dataset and
        HDF5's chunk cache took longer than the compression itself (benchmarks/RESULTS.md)."""
        key = (data.shape, data.dtype.str, codec["compression_opts"])
        if key in self._made:
            kind = h5py.h5t.py_create(data.dtype, logical=True)
            space = h5py.h5s.create_simple(data.shape)
            dataset = h5py.h5d.create(self.file.id, name.encode(), kind, space, self._made[key])
        else:
            made = self.file.create_dataset(
                name, data.shape, data.dtype, chunks=data.shape, **codec
            )
            self._made[key] = made.id.get_create_plist()
            dataset = made.id
        (level,) = codec["compression_opts"]
        chunk = imagecodecs.zstd_encode(np.ascontiguousarray(data), level=level)
        dataset.write_direct_chunk((0,) * data.ndim, chunk)
        return dataset

    def _store_image(self, name: str, image: np.ndarray) -> h5py.h5d.DatasetID:
        """Row differences, or JPEG-LS where the filter takes the image, else zstd."""
        planar = image.ndim == 3
        data = np.ascontiguousarray(image.transpose(2, 0, 1)) if planar else image
        if self.codec == "rowdelta" and data.dtype == np.uint8:
            deltas = data.copy()
            np.subtract(data[..., 1:, :], data[..., :-1, :], out=deltas[..., 1:, :])
            dataset = self._zstd(name, deltas, ZSTD_FAST)
            _attribute(dataset, "planar", np.bool_(planar))
            _attribute(dataset, "predictor", ROW_DELTA)
            return dataset
        lo, hi = JPEGLS_SIDES
        if self.codec == "jpegls" and lo <= min(image.shape[:2]) and max(image.shape[:2]) <= hi:
            # the filter derives its parameters from each dataset: h5py's way every time
            made = self.file.create_dataset(name, data=data, chunks=data.shape, **JPEGLS)
            _attribute(made.id, "planar", np.bool_(planar))
            return made.id
        dataset = self._zstd(name, image, ZSTD)
        _attribute(dataset, "planar", np.False_)
        return dataset

    def append(
        self, uid: str, image: np.ndarray, labels: np.ndarray, native: np.ndarray | None = None
    ) -> int:
        """Store one image and its label layers (L, H, W), plus the layers at the source's size
        when the image was shrunk; return its row in the shard."""
        row = self.rows
        _attribute(self._store_image(f"images/{row:05d}", image), "uid", uid)
        for group, layers in (("labels", labels), ("native", native)):
            if layers is not None:
                _attribute(self._zstd(f"{group}/{row:05d}", layers, ZSTD), "uid", uid)
        self.rows += 1
        return row

    def close(self) -> None:
        self.file.attrs["n_images"] = self.rows
        self.file.attrs["codec"] = self.codec
        self.file.close()
        os.replace(self.tmp, self.path)


_SCALAR = h5py.h5s.create(h5py.h5s.SCALAR)
#: per Python type: the dtype, HDF5 file type and memory type h5py's `attrs[name] = value` uses
_ATTRIBUTE_TYPES = {
    kind: (dtype, h5py.h5t.py_create(dtype, logical=True), h5py.h5t.py_create(dtype))
    for kind, dtype in ((str, h5py.string_dtype()), (np.bool_, np.dtype(bool)))
}


def _attribute(dataset: h5py.h5d.DatasetID, name: str, value: str | np.bool_) -> None:
    """A scalar attribute with the types h5py's `attrs[name] = value` gives (a variable-length
    UTF-8 string; a bool as HDF5's FALSE/TRUE enum), with the types made once, not per call."""
    dtype, stored, memory = _ATTRIBUTE_TYPES[type(value)]
    made = h5py.h5a.create(dataset, name.encode(), stored, _SCALAR)
    made.write(np.array(value, dtype=dtype), mtype=memory)


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
        """The stored image, (H, W) grey or (H, W, 3) RGB, whatever its codec."""
        ds = self.file[f"images/{row:05d}"]
        data = ds[()]
        if ds.attrs.get("predictor") == ROW_DELTA:
            data = np.cumsum(data, axis=-2, dtype=np.uint8)  # mod 256, as they were taken
        return np.ascontiguousarray(data.transpose(1, 2, 0)) if ds.attrs["planar"] else data

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

    def native_mask(self, row: int, layer: int, label: int) -> np.ndarray:
        """One object's binary mask at the source's size (the stored one if not shrunk)."""
        key = f"native/{row:05d}"
        if key not in self.file:
            return self.mask(row, layer, label)
        return self.file[key][layer] == label

    def uid(self, row: int) -> str:
        return str(self.file[f"images/{row:05d}"].attrs["uid"])
