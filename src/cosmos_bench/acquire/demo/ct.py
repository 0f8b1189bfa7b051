"""Synthetic abdominal CT phantoms in the nnU-Net v2 raw layout (the demo-ct dataset)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from cosmos_bench.acquire.demo.archives import _nifti_gz, _tar_gz
from cosmos_bench.acquire.demo.noise import _fine_noise, _largest_component, _smooth_field
from cosmos_bench.core.atomic import write_bytes

CT_ROOT = "Dataset900_DemoCT"


CT_LABELS = {
    "background": 0,
    "liver": 1,
    "spleen": 2,
    "left_kidney": 3,
    "right_kidney": 4,
    "lesion": 5,
}


_CT_XY = 160


# --------------------------------------------------------------------------- CT phantom


def _ellipsoid(
    grids: Sequence[np.ndarray], center: Sequence[float], radii: Sequence[float]
) -> np.ndarray:
    """Normalised radius of an axis-aligned ellipsoid: < 1 inside."""
    r2 = sum(((g - c) / a) ** 2 for g, c, a in zip(grids, center, radii, strict=True))
    return np.sqrt(r2)


def _blob(
    rng: np.random.Generator,
    grids: Sequence[np.ndarray],
    shape: tuple[int, ...],
    center: Sequence[float],
    radii: Sequence[float],
    amp: float,
) -> np.ndarray:
    """An ellipsoid whose surface is pushed in and out by low-frequency noise: organ-like."""
    r = _ellipsoid(grids, center, radii)
    return _largest_component(r < 1.0 + amp * _smooth_field(rng, shape, (5, 5, 3)))


def _body_2d(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Axial cross-section (x, y) of trunk wall, spine, psoas and the abdominal cavity.

    Index x runs patient right -> left, y anterior -> posterior (see ``build_demo_ct``).
    """
    n = _CT_XY
    x = np.arange(n, dtype=np.float32)[:, None]
    y = np.arange(n, dtype=np.float32)[None, :]
    cx = n / 2 + rng.uniform(-3, 3)
    body = _ellipsoid((x, y), (cx, 82), (74 * rng.uniform(0.95, 1.02), 62)) < 1.0
    depth = ndimage.distance_transform_edt(body)
    fat_depth = rng.uniform(4, 7) + 2.0 * _smooth_field(rng, (n, n), (4, 4))
    fat = body & (depth < fat_depth)
    wall = body & ~fat & (depth < fat_depth + 5)
    vert = _ellipsoid((x, y), (cx, 112), (11, 10)) < 1.0
    canal = _ellipsoid((x, y), (cx, 128), (5, 5)) < 1.0
    lamina = (_ellipsoid((x, y), (cx, 128), (8.5, 8)) < 1.0) & ~canal & (y > 124)
    spinous = (np.abs(x - cx) < 2.5) & (y > 128) & (y < 140)
    cortex = vert & ~(_ellipsoid((x, y), (cx, 112), (9, 8)) < 1.0)
    psoas = (_ellipsoid((x, y), (cx - 18, 108), (7, 9)) < 1.0) | (
        _ellipsoid((x, y), (cx + 18, 108), (7, 9)) < 1.0
    )
    back = (_ellipsoid((x, y), (cx, 126), (25, 20)) < 1.0) | (
        _ellipsoid((x, y), (cx, 142), (62, 22)) < 1.0
    )
    bone_dense = (lamina | spinous | cortex) & body
    cavity = body & ~fat & ~wall & ~back & ~vert & ~canal
    return {
        "body": body,
        "fat": fat,
        "wall": wall | (back & body & ~vert & ~canal & ~bone_dense),
        "bone_dense": bone_dense,
        "bone_soft": vert & ~cortex,
        "canal": canal,
        "psoas": psoas & cavity,
        "cavity": cavity,
    }


def _ribs(rng: np.random.Generator, wall: np.ndarray, nz: int) -> np.ndarray:
    """Rib cross-sections in the upper slices: bright ovals in the trunk wall that drift with z."""
    x = np.arange(_CT_XY, dtype=np.float32)[:, None, None]
    y = np.arange(_CT_XY, dtype=np.float32)[None, :, None]
    t = ((np.arange(nz) + 0.5) / nz).astype(np.float32)[None, None, :]
    ribs = np.zeros((_CT_XY, _CT_XY, nz), dtype=bool)
    for angle in rng.uniform(0.3, 1.1, 3).tolist() + rng.uniform(2.0, 2.8, 3).tolist():
        ang = angle + 0.25 * (t - 0.5)
        cx = _CT_XY / 2 + 64 * np.cos(ang)
        cy = 82 + 52 * np.sin(ang)
        ribs |= (((x - cx) / 3.5) ** 2 + ((y - cy) / 2.5) ** 2 < 1.0) & (t > 0.45)
    return ribs & wall[:, :, None]


def _ct_organs(
    rng: np.random.Generator, shape: tuple[int, int, int], allowed: np.ndarray
) -> np.ndarray:
    """Label volume: liver, spleen, kidneys touching their neighbours, lesion inside the liver."""
    nx, ny, nz = shape
    grids = (
        np.arange(nx, dtype=np.float32)[:, None, None],
        np.arange(ny, dtype=np.float32)[None, :, None],
        ((np.arange(nz) + 0.5) / nz).astype(np.float32)[None, None, :],
    )

    def jitter(center: tuple[float, float, float], radii: tuple[float, float, float]) -> tuple:
        c = (center[0] + rng.uniform(-3, 3), center[1] + rng.uniform(-3, 3), center[2])
        s = rng.uniform(0.92, 1.08)
        return c, (radii[0] * s, radii[1] * s, radii[2])

    labels = np.zeros(shape, dtype=np.uint8)
    # Painting order decides who wins overlaps: kidneys dent liver and spleen, so they touch.
    organs = [
        ("liver", (48, 68, 0.62), (31, 35, 0.42), 0.16),
        ("spleen", (117, 90, 0.62), (13, 21, 0.27), 0.14),
        ("right_kidney", (53, 103, 0.30), (11, 15, 0.30), 0.10),
        ("left_kidney", (107, 103, 0.32), (11, 15, 0.30), 0.10),
    ]
    for name, center, radii, amp in organs:
        c, r = jitter(center, radii)
        labels[_blob(rng, grids, shape, c, r, amp) & allowed] = CT_LABELS[name]

    liver = labels == CT_LABELS["liver"]
    core = ndimage.binary_erosion(liver, np.ones((3, 3, 1), bool), iterations=2)
    cx, cy, cz = ndimage.center_of_mass(core)
    rad = rng.uniform(7.5, 11)
    center = (cx + rng.uniform(-6, 6), cy + rng.uniform(-6, 6), (cz + 0.5) / nz)
    lesion = _blob(rng, grids, shape, center, (rad, rad * 0.9, rng.uniform(0.15, 0.19)), 0.12)
    labels[lesion & core] = CT_LABELS["lesion"]
    return labels


def _ct_case(rng: np.random.Generator, nz: int) -> tuple[np.ndarray, np.ndarray]:
    """One (HU int16, label uint8) pair in nibabel (x, y, z) order."""
    shape = (_CT_XY, _CT_XY, nz)
    body = _body_2d(rng)
    b3 = {k: np.broadcast_to(v[:, :, None], shape) for k, v in body.items()}
    labels = _ct_organs(rng, shape, b3["cavity"])

    hu = np.full(shape, -1000.0, dtype=np.float32)
    hu[b3["fat"]] = -100.0 + rng.uniform(-10, 10)
    hu[b3["wall"]] = 50.0
    # Cavity: a fat / bowel mixture with a few gas pockets, so organs sit on a busy background.
    mix = np.clip(0.5 + 0.6 * _smooth_field(rng, shape, (12, 12, 6)), 0.0, 1.0)
    bowel = -95.0 * (1.0 - mix) + 30.0 * mix
    bowel[_smooth_field(rng, shape, (14, 14, 6)) > 2.3] = -850.0
    hu = np.where(b3["cavity"], bowel, hu)
    hu[b3["psoas"]] = 52.0
    hu[b3["bone_soft"]] = rng.uniform(220, 320)
    hu[b3["bone_dense"]] = rng.uniform(650, 900)
    hu[b3["canal"]] = 25.0
    hu[_ribs(rng, body["wall"], nz)] = rng.uniform(450, 700)

    kidneys = np.isin(labels, (CT_LABELS["left_kidney"], CT_LABELS["right_kidney"]))
    perirenal = ndimage.binary_dilation(kidneys, np.ones((3, 3, 1), bool), iterations=3)
    perirenal = ndimage.binary_dilation(perirenal, np.ones((1, 1, 3), bool))
    hu[perirenal & (labels == 0) & b3["cavity"]] = -90.0
    # Portal venous phase, the phase of most abdominal CT segmentation datasets: enhanced
    # liver and spleen, nephrographic kidneys, a hypodense lesion 20-30 HU below the liver.
    # (Unenhanced values, liver 60 / spleen 48 / kidneys 35 / lesion -12, put the organs
    # closer to the bowel than real contrast CT does: LiteMedSAM's S5 Dice fell to 0.85.)
    liver_hu = rng.uniform(100, 115)
    organ_hu = {
        "liver": liver_hu,
        "spleen": rng.uniform(110, 125),
        "left_kidney": rng.uniform(160, 190),
        "right_kidney": rng.uniform(160, 190),
        "lesion": liver_hu - rng.uniform(20, 30),
    }
    for name, value in organ_hu.items():
        hu[labels == CT_LABELS[name]] = value

    hu = ndimage.gaussian_filter(hu, (0.7, 0.7, 0.4))  # partial volume at boundaries
    soft = b3["body"] & (hu > -300) & (hu < 200)
    hu += np.where(soft, 6.0, 2.0) * _fine_noise(rng, shape, (1.5, 1.5, 0.6))
    hu += rng.uniform(11, 18) * _fine_noise(rng, shape, (0.6, 0.6, 0.0))
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16), labels


def ct_volumes(
    seed: int = 0, n_cases: int = 3
) -> Iterator[tuple[str, np.ndarray, np.ndarray, tuple[float, float, float]]]:
    """(case, HU volume, label volume, spacing) of each demo CT, in nibabel (x, y, z) order.

    The arrays before encoding: the test that guards the committed archive compares its
    decoded voxels with these, not its bytes (gzip output may differ between zlib builds).
    """
    rng = np.random.default_rng(seed)
    for i in range(n_cases):
        nz = int(rng.integers(24, 33))
        in_plane = round(float(rng.uniform(0.72, 0.88)), 3)
        spacing = (in_plane, in_plane, round(float(rng.uniform(2.5, 3.5)), 2))
        image, labels = _ct_case(rng, nz)
        yield f"demo_ct_{i:03d}", image, labels, spacing


def build_demo_ct(out: Path, seed: int = 0, n_cases: int = 3) -> Path:
    """Write ``out`` (.tar.gz): synthetic abdominal CTs in the nnU-Net v2 raw layout.

    Layout: ``Dataset900_DemoCT/{dataset.json, imagesTr/demo_ct_NNN_0000.nii.gz,
    labelsTr/demo_ct_NNN.nii.gz}``. Images are int16 HU, shape (160, 160, 24..32) in nibabel
    (x, y, z) order with spacing about 0.8 x 0.8 x 3 mm. Orientation follows CTs converted
    from DICOM (LPS) as in most nnU-Net datasets: affine = diag(-sx, -sy, sz), i.e. x runs
    patient right -> left, y anterior -> posterior, z inferior -> superior (the liver is at
    low x). Labels are uint8: 1 liver, 2 spleen, 3 left kidney, 4 right kidney, 5 lesion (a
    hypodense liver lesion that overrides liver), in portal venous phase HU.
    """
    files: dict[str, bytes] = {}
    for case, image, labels, spacing in ct_volumes(seed, n_cases):
        files[f"{CT_ROOT}/imagesTr/{case}_0000.nii.gz"] = _nifti_gz(image, spacing)
        files[f"{CT_ROOT}/labelsTr/{case}.nii.gz"] = _nifti_gz(labels, spacing)
    meta = {
        "name": "DemoCT",
        "description": "cosmos-bench synthetic abdominal CT phantoms (no patient data)",
        "licence": "CC0-1.0",
        "channel_names": {"0": "CT"},
        "labels": CT_LABELS,
        "numTraining": n_cases,
        "file_ending": ".nii.gz",
    }
    files[f"{CT_ROOT}/dataset.json"] = (json.dumps(meta, indent=2) + "\n").encode()
    write_bytes(out, _tar_gz(files))
    return out
