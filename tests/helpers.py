"""Test helpers: the repository root, synthetic volumes, and running the real workflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
#: the card of the tests' tiny CT dataset: liver (1) and lesion (2) in NIfTI pairs
TINY_CARD = """id: tiny
name: tiny test volume
homepage: none
licence: CC0-1.0
citation: none
modality: CT
source: {url: "file:tiny.tar.gz", access: generated}
format: {adapter: volume-pairs, images: "imagesTr/*_0000.nii.gz", labels: "labelsTr/{case}.nii.gz",
         case_suffix: _0000}
labels: {1: liver, 2: lesion}
"""


def write_volume(array_zyx: np.ndarray, path: Path, spacing, direction=None) -> None:
    """Write a (z, y, x) array as a NIfTI/any SimpleITK file with the given geometry."""
    image = sitk.GetImageFromArray(array_zyx)
    image.SetSpacing(spacing)
    if direction is not None:
        image.SetDirection(direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))


def phantom(shape=(8, 96, 96), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy CT-like volume with two objects: a big bright disc (1) and a small one (2)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    labels = np.zeros(shape, np.uint8)
    labels[((y - 48) ** 2 + (x - 36) ** 2) < 18**2] = 1
    labels[(((y - 40) ** 2 + (x - 72) ** 2) < 9**2) & (z >= 2)] = 2
    image = rng.normal(-50, 15, shape)
    image[labels == 1] += 150
    image[labels == 2] += 300
    return image.astype(np.int16), labels


def copy_workflow(dest: Path) -> Path:
    """A fresh working copy of the workflow (no results), as a user's clone would be."""
    for name in ("requirements.lock",):
        shutil.copy(ROOT / name, dest / name)
    for sub in ("workflow", "config", "resources", "envs"):
        shutil.copytree(ROOT / sub, dest / sub, ignore=shutil.ignore_patterns("runs"))
    return dest


def snakemake(
    workdir: Path, *args: str, timeout: int = 1200, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the real snakemake CLI of this environment in `workdir` (extra `env` variables)."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
