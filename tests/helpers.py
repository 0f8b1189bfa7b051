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
#: the venv's snakemake, as the README calls it (`.venv/bin/snakemake`)
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
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


def user_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment as a user's shell would have it: the venv neither activated
    nor on PATH (`make test` puts it there), so a job that ran a bare `python` would fail."""
    venv_bin = Path(sys.executable).parent.resolve()
    path = [
        p
        for p in os.environ.get("PATH", "").split(os.pathsep)
        if p and Path(p).resolve() != venv_bin
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    # two test workers share two cores: OpenMP threads that spin while they wait would burn the
    # other worker's core, so they sleep (the results do not change, only the waste)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return {**env, "PATH": os.pathsep.join(path) or "/usr/bin:/bin", **(extra or {})}


def snakemake(
    workdir: Path, *args: str, timeout: int = 1200, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the venv's `snakemake` as the README does (`.venv/bin/snakemake`), in `workdir`,
    with the venv off PATH (`user_env`; extra `env` variables)."""
    return subprocess.run(
        [SNAKEMAKE, "--cores", "2", *args],
        cwd=workdir,
        env=user_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check(run: subprocess.CompletedProcess) -> None:
    """A snakemake run that must succeed; its output's tail is the failure message."""
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-8000:]


def copy_run(run: Path, dest: Path) -> Path:
    """A private copy of a finished shared run, for a test that adds its own jobs to it."""
    shutil.copytree(run, dest, symlinks=True)
    return dest


def realdata_workflow(dest: Path, dataset: str) -> Path:
    """A fresh workflow copy whose card points at the real data folder wherever it lives."""
    work = copy_workflow(dest)
    card = work / "config" / "datasets" / f"{dataset}.yaml"
    source = str(REALDATA / dataset)
    card.write_text(card.read_text().replace(f"../shared/realdata/{dataset}", source))
    return work


def same_scores(run: Path, reference: Path, dataset: str) -> list[Path]:
    """Assert that every model's gathered score table of `dataset` in `run` equals the one in
    `reference` byte for byte; returns the files compared. A dataset's gathered scores depend on
    neither its sharding nor the other datasets of the run, so any run can be checked against
    the shared demo run."""
    gathered = (run / "results" / "scores").glob(f"*/{dataset}.parquet")
    files = sorted(p.relative_to(run) for p in gathered)
    assert files, f"no score tables of {dataset} in {run}"
    for path in files:
        assert (reference / path).read_bytes() == (run / path).read_bytes(), f"{path} differs"
    return files


def grey_image() -> np.ndarray:
    """48x64 (H < W) noisy grey image with a bright disc: the adapter tests' image."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :64]
    image = rng.normal(70, 15, (48, 64)) + 110 * (np.hypot(yy - 20, xx - 40) < 12)
    return np.clip(image, 0, 255).astype(np.uint8)


def box(x0: float, y0: float, x1: float, y1: float):
    """An S5 box prompt."""
    from cosmos_bench.core.prompt import Prompt

    return Prompt("S5", box=np.array([x0, y0, x1, y1], np.float32))


def clicks(*points: tuple[float, float, int], with_box=None):
    """An S2-style prompt of (x, y, label) clicks, with the box of `with_box` if given."""
    from cosmos_bench.core.prompt import Prompt

    coords = np.array([p[:2] for p in points], np.float32)
    labels = np.array([p[2] for p in points], np.int64)
    corners = None if with_box is None else with_box.box
    return Prompt("S2", points=coords, point_labels=labels, box=corners)
