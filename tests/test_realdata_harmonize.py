"""Harmonization of the real data beside the project, checked from outside: mask counts from
the source arrays, and a spot-checked slice equal to the source after the documented
transforms (reorientation to LPS, per-volume min-max), computed here with numpy only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import REALDATA, ROOT

from cosmos_bench.catalog.cards import load_card, load_ontology
from cosmos_bench.harmonize.dataset import harmonize
from cosmos_bench.store.shards import ShardReader

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not (REALDATA / "medsam2-recist-ct").is_dir(), reason="no shared/realdata"),
]


def to_lps(array_zyx: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Reorder and flip a (z, y, x) array so its axes run along S, P, L (the documented LPS).

    Column j of the direction matrix is the physical direction of index axis j (x, y, z),
    which is numpy axis 2 - j; oblique grids are not expected in these files."""
    d = np.reshape(direction, (3, 3))
    axes, flips = [0, 0, 0], []
    for j in range(3):
        p = int(np.argmax(np.abs(d[:, j])))
        assert abs(d[p, j]) > 0.99, "oblique grid"
        axes[2 - p] = 2 - j
        if d[p, j] < 0:
            flips.append(2 - p)
    out = np.transpose(array_zyx, axes)
    return np.flip(out, flips) if flips else out


def min_max(volume: np.ndarray) -> np.ndarray:
    """The `paper` preset: the whole volume's min and max to 0 and 255, rounded."""
    lo, hi = float(volume.min()), float(volume.max())
    scaled = (volume.astype(np.float64) - lo) / max(hi - lo, 1e-6)
    return np.round(scaled * 255).astype(np.uint8)


def harmonized(dataset: str, tmp_path: Path):
    card = load_card(ROOT, dataset, load_ontology(ROOT))
    index = harmonize(card, REALDATA / dataset, tmp_path / "i.parquet", tmp_path / "shards")
    return index, tmp_path / "shards"


def check_spot_slice(index, shards: Path, case: str, image: np.ndarray, labels: np.ndarray):
    """The case's largest mask: its stored slice and mask equal the independent arrays."""
    row = index[index.case == case].sort_values("area_px").iloc[-1]
    z = int(row.slice.removeprefix("z"))
    with ShardReader(shards / f"shard-{row.shard:05d}.h5") as reader:
        stored = reader.image(int(row.row))
        mask = reader.mask(int(row.row), int(row.layer), int(row.label))
    assert np.array_equal(stored, image[z])
    assert np.array_equal(mask, labels[z] == row.label)


def test_medsam2_recist_ct_counts_and_a_spot_slice(tmp_path: Path) -> None:
    index, shards = harmonized("medsam2-recist-ct", tmp_path)
    expected = {}
    for path in sorted((REALDATA / "medsam2-recist-ct").glob("*.npz")):
        with np.load(path) as npz:
            image = to_lps(min_max(npz["imgs"]), npz["direction"])
            labels = to_lps(npz["gts"], npz["direction"])
        per_slice = (labels == 1).reshape(labels.shape[0], -1).sum(axis=1)
        expected[path.stem] = int((per_slice > 50).sum())
        check_spot_slice(index, shards, path.stem, image, labels)
    print(f"medsam2-recist-ct masks per case: {expected}")
    assert index.groupby("case").size().to_dict() == expected
    assert sum(expected.values()) == len(index)


def test_pyradiomics_brain_spot_slice(tmp_path: Path) -> None:
    index, shards = harmonized("pyradiomics-nrrd", tmp_path)
    for case in ("brain1", "breast1"):
        img = sitk.ReadImage(str(REALDATA / "pyradiomics-nrrd" / f"{case}_image.nrrd"))
        lab = sitk.ReadImage(str(REALDATA / "pyradiomics-nrrd" / f"{case}_label.nrrd"))
        image = to_lps(min_max(sitk.GetArrayFromImage(img)), np.array(img.GetDirection()))
        labels = to_lps(sitk.GetArrayFromImage(lab), np.array(lab.GetDirection()))
        check_spot_slice(index, shards, case, image, labels)
