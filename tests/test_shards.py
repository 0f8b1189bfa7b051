"""Shard codecs: lossless for every image kind, smaller than PNG on CT-like slices."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage

from cosmos_bench.store.shards import CODECS, ShardReader, ShardWriter


def ct_like_slice(rng: np.random.Generator, side: int = 256) -> np.ndarray:
    """Correlated noise over smooth anatomy, as a windowed CT slice looks."""
    yy, xx = np.mgrid[:side, :side] / side
    noise = ndimage.gaussian_filter(rng.normal(0, 1, (side, side)), 1.2)
    image = 110 + 25 * np.sin(6 * yy) + 40 * ((yy - 0.5) ** 2 + (xx - 0.4) ** 2 < 0.05)
    return np.clip(image + 8 * noise / noise.std(), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("codec", ["rowdelta", "jpegls", "zstd"])
def test_every_image_kind_round_trips_exactly(tmp_path: Path, codec: str) -> None:
    rng = np.random.default_rng(0)
    images = [
        ct_like_slice(rng),
        rng.integers(0, 256, (40, 70, 3), dtype=np.uint8),  # RGB, stored planar by jpegls
        rng.integers(0, 256, (9, 300), dtype=np.uint8),  # a side under 16: zstd fallback
        np.zeros((32, 32), np.uint8),  # constant
    ]
    with_labels = [
        (img, np.zeros((2, *img.shape[:2]), np.uint16) + k) for k, img in enumerate(images)
    ]
    path = tmp_path / "shard-00000.h5"
    writer = ShardWriter(path, codec)
    for k, (image, labels) in enumerate(with_labels):
        assert writer.append(f"uid{k}", image, labels) == k
    writer.close()
    assert not path.with_name(path.name + ".tmp").exists()
    with ShardReader(path) as reader:
        assert reader.file.attrs["codec"] == codec
        for k, (image, labels) in enumerate(with_labels):
            got = reader.image(k)
            assert got.shape == image.shape and got.flags.c_contiguous
            assert np.array_equal(got, image) and np.array_equal(reader.labels(k), labels)
            assert reader.uid(k) == f"uid{k}"


def test_predicting_codecs_store_ct_slices_in_no_more_bytes_than_png(tmp_path: Path) -> None:
    """JPEG-LS below PNG; row differences at PNG's size (within 5 %); zstd alone above."""
    rng = np.random.default_rng(1)
    slices = [ct_like_slice(rng) for _ in range(4)]
    sizes = {}
    for codec in CODECS:
        writer = ShardWriter(tmp_path / f"{codec}.h5", codec)
        for k, image in enumerate(slices):
            writer.append(str(k), image, np.zeros((1, 256, 256), np.uint16))
        writer.close()
        with ShardReader(tmp_path / f"{codec}.h5") as reader:
            sizes[codec] = sum(
                reader.file[f"images/{k:05d}"].id.get_storage_size() for k in range(4)
            )
    png = sum(len(cv2.imencode(".png", image)[1]) for image in slices)
    assert sizes["jpegls"] < png < sizes["zstd"]
    assert sizes["rowdelta"] < 1.05 * png


def test_row_differences_wrap_modulo_256_and_are_summed_back(tmp_path: Path) -> None:
    """Rows that step across 0 and 255 both ways: stored as the mod-256 differences PNG's Up
    filter takes, read back exactly."""
    image = np.array([[0, 255, 7], [255, 0, 7], [1, 254, 200]], np.uint8).repeat(8, axis=1)
    writer = ShardWriter(tmp_path / "s.h5", "rowdelta")
    writer.append("u", image, np.zeros((1, *image.shape), np.uint16))
    writer.close()
    with ShardReader(tmp_path / "s.h5") as reader:
        stored = reader.file["images/00000"][()]
        assert stored[1, 0] == 255 and stored[1, 8] == 1 and stored[2, 16] == 193
        assert np.array_equal(reader.image(0), image)


def test_an_unknown_codec_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="jpegls"):
        ShardWriter(tmp_path / "s.h5", "png")
