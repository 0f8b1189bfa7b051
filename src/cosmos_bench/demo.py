"""Synthetic demo datasets, delivered through the same download/unpack path as public ones.

Two archives stand in for real public datasets so that the whole pipeline (card -> download ->
unpack -> adapter -> model -> metrics) runs offline:

* ``build_demo_ct``: abdominal CT phantoms in the nnU-Net v2 raw layout (``.tar.gz``).
* ``build_demo_endo``: colonoscopy frames in the Kvasir-SEG layout (``.zip``), with JPEG masks.

A real pretrained model is scored on them, so they are deliberately not trivial: textured and
noisy tissue, organs that touch, a subtle hypodense liver lesion, low-contrast polyps, JPEG
artefacts.

The archives the demo runs on are committed (``resources/demo/``) and pinned by sha256 in their
cards: the bytes that gzip, zlib and libjpeg write differ between machines, so the demo never
rebuilds them. This module is how they were made (``python -m cosmos_bench.demo ct
resources/demo/demo-ct.tar.gz``; on one machine the output is byte-deterministic: every
timestamp, owner and order is fixed), and the tests compare its arrays with the committed
archives' decoded voxels and pixels.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image
from scipy import ndimage

from cosmos_bench.atomic import write_bytes
from cosmos_bench.download import sha256_file

CT_ROOT = "Dataset900_DemoCT"
ENDO_ROOT = "Kvasir-SEG-demo"
CT_LABELS = {
    "background": 0,
    "liver": 1,
    "spleen": 2,
    "left_kidney": 3,
    "right_kidney": 4,
    "lesion": 5,
}
_GZIP_LEVEL = 6
_ZIP_LEVEL = 6
_JPEG_QUALITY = 90
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_CT_XY = 160


# --------------------------------------------------------------------------- shared helpers


def _smooth_field(
    rng: np.random.Generator, shape: Sequence[int], cells: Sequence[int]
) -> np.ndarray:
    """Zero-mean, unit-std noise with features about ``shape / cells`` in size.

    A coarse random grid is interpolated with separable Gaussian weights: far cheaper than
    low-pass filtering full-resolution noise with a wide kernel.
    """
    out = rng.standard_normal(tuple(c + 2 for c in cells))
    for axis, (n, c) in enumerate(zip(shape, cells, strict=True)):
        pos = np.linspace(1.0, float(c), n)
        weights = np.exp(-0.5 * ((pos[:, None] - np.arange(c + 2)[None, :]) / 0.7) ** 2)
        out = np.moveaxis(np.tensordot(weights, out, axes=([1], [axis])), 0, axis)
    out -= out.mean()
    out /= out.std()
    return out.astype(np.float32)


def _fine_noise(
    rng: np.random.Generator, shape: Sequence[int], sigma: Sequence[float]
) -> np.ndarray:
    """Unit-std, slightly correlated noise: texture and scanner/sensor noise are never white."""
    out = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return out / out.std()


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep one connected blob, so a noisy boundary never spawns detached islands."""
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(sizes.argmax())


def _parent_dirs(files: dict[str, bytes]) -> set[str]:
    """Every folder above the archive members, with a trailing slash, as real archives list."""
    return {str(parent) + "/" for name in files for parent in Path(name).parents[:-1]}


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


def _nifti_gz(data: np.ndarray, spacing: tuple[float, float, float]) -> bytes:
    """Gzipped NIfTI-1 bytes with qform = sform = diag(-sx, -sy, sz) and a gzip mtime of 0."""
    sx, sy, sz = spacing
    nx, ny, nz = data.shape
    affine = np.diag([-sx, -sy, sz, 1.0])
    affine[:3, 3] = (sx * (nx - 1) / 2, sy * (ny - 1) / 2, -sz * (nz - 1) / 2)
    img = nib.Nifti1Image(data, affine)
    img.header.set_data_dtype(data.dtype)
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    img.header["descrip"] = b"cosmos-bench synthetic demo CT"
    return gzip.compress(img.to_bytes(), compresslevel=_GZIP_LEVEL, mtime=0)


def _tar_gz(files: dict[str, bytes]) -> bytes:
    """A .tar.gz with sorted entries, zero mtimes/owners and an empty gzip name: reproducible."""
    dirs = _parent_dirs(files)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(dirs | set(files)):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if name in dirs:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.mode, info.size = 0o644, len(files[name])
                tar.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), compresslevel=_GZIP_LEVEL, mtime=0)


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


# --------------------------------------------------------------------------- endoscopy frames


def _spot(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, sy: float, sx: float) -> np.ndarray:
    """Soft elliptical spot with a saturated core: one specular highlight."""
    d2 = ((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2
    return np.clip(1.8 * np.exp(-0.5 * d2), 0.0, 1.0)


def _mucosa(
    rng: np.random.Generator, h: int, w: int, yy: np.ndarray, xx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Illumination (vignette, dark lumen, folds) and a vessel map for a colon wall."""
    cy, cx = h * rng.uniform(0.4, 0.6), w * rng.uniform(0.4, 0.6)
    rr = ((yy - cy) / (h / 2)) ** 2 + ((xx - cx) / (w / 2)) ** 2
    illum = (0.92 + 0.1 * _smooth_field(rng, (h, w), (3, 3))) * (1 - rng.uniform(0.22, 0.35) * rr)
    if rng.random() < 0.7:
        ly, lx = h * rng.uniform(0.15, 0.85), w * rng.uniform(0.15, 0.85)
        s = min(h, w) * rng.uniform(0.08, 0.16)
        illum *= 1 - 0.8 * np.exp(-0.5 * (((yy - ly) ** 2 + (xx - lx) ** 2) / s**2))
    illum *= 1 + 0.07 * _smooth_field(rng, (h, w), (6, 6))
    return np.clip(illum, 0.05, None), _vessels(rng, h, w)


def _vessels(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Submucosal vessel map (0..1): thin level-set curves at three scales that fade in and out."""
    vessels = np.zeros((h, w), dtype=np.float32)
    for size, width, weight in ((30, 0.045, 1.0), (16, 0.04, 0.6), (9, 0.035, 0.35)):
        field = _smooth_field(rng, (h, w), (max(h // size, 2), max(w // size, 2)))
        vessels = np.maximum(vessels, weight * np.exp(-((field / width) ** 2)))
    visible = np.clip(0.6 + 0.6 * _smooth_field(rng, (h, w), (3, 3)), 0, 1)
    return vessels * visible * rng.uniform(0.4, 0.9)


def _polyp(
    rng: np.random.Generator, h: int, w: int, yy: np.ndarray, xx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Polyp footprint (bool), dome height (0..1) and radius: a lobed blob, 300 px to large."""
    area = float(np.exp(rng.uniform(np.log(300), np.log(0.2 * h * w))))
    radius = float(np.sqrt(area / np.pi))
    margin = min(radius, 0.35 * min(h, w)) + 8
    py, px = rng.uniform(margin, h - margin), rng.uniform(margin, w - margin)
    theta = np.arctan2(yy - py, xx - px)
    lobes = sum(
        rng.uniform(0, 0.2 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 4)
    )
    q = np.hypot(yy - py, xx - px) / (radius * (1 + lobes))
    return q < 1, np.sqrt(np.clip(1 - q**2, 0, 1)), radius


def _speculars(
    rng: np.random.Generator,
    rgb: np.ndarray,
    illum: np.ndarray,
    height: np.ndarray,
    yy: np.ndarray,
    xx: np.ndarray,
) -> np.ndarray:
    """Wet-surface glare: irregular patches where the wall faces the light, spots on the polyp."""
    h, w = illum.shape
    glare = np.clip(1.5 * (_fine_noise(rng, (h, w), (3.5, 3.5)) - 2.8), 0, 1)
    glare *= np.clip(illum, 0, 1) ** 2
    on_polyp = np.argwhere(height > 0.5)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = on_polyp[rng.integers(len(on_polyp))]
        spot = _spot(yy, xx, float(cy), float(cx), rng.uniform(0.8, 3.0), rng.uniform(0.8, 3.0))
        glare = np.maximum(glare, spot)
    return rgb * (1 - glare[..., None]) + glare[..., None] * np.array([1.0, 0.98, 0.95])


def _endo_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One colonoscopy-like frame (RGB uint8) and its polyp mask (bool)."""
    h, w = int(rng.integers(200, 289)), int(rng.integers(240, 321))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.array([0.80, 0.40, 0.34]) + rng.uniform(-0.05, 0.05, 3)
    illum, vessels = _mucosa(rng, h, w, yy, xx)
    mask, height, radius = _polyp(rng, h, w, yy, xx)

    vessel_tint = np.array([0.22, 0.5, 0.38])
    wall = base * illum[..., None] * (1 - vessels[..., None] * vessel_tint)
    contrast = rng.uniform(0.2, 1.0)  # low values give polyps that barely stand out
    tint = 1 + contrast * np.array([0.05, 0.2, 0.16]) * rng.choice([-1.0, 1.0])
    light = rng.normal(size=2)
    light /= np.linalg.norm(light)
    gy, gx = np.gradient(height)
    slope = np.clip((gy * light[0] + gx * light[1]) * radius, -2, 2)
    shade = 1 + 0.3 * contrast * (height - 0.4) + 0.12 * slope
    texture = 1 + 0.035 * _fine_noise(rng, (h, w), (1.2, 1.2))
    surface = base * tint * (illum * shade * texture)[..., None]
    surface *= 1 - 0.3 * vessels[..., None] * vessel_tint
    alpha = ndimage.gaussian_filter(mask.astype(np.float32), 1.0)[..., None]
    rgb = wall * (1 - alpha) + surface * alpha

    rgb = _speculars(rng, rgb, illum, height, yy, xx)
    rgb += 0.012 * rng.standard_normal(rgb.shape)

    if rng.random() < 0.6:  # rounded black corners of the endoscope field of view
        r = min(h, w) * rng.uniform(0.12, 0.2)
        dy = np.maximum(np.maximum(r - yy, yy - (h - 1 - r)), 0)
        dx = np.maximum(np.maximum(r - xx, xx - (w - 1 - r)), 0)
        fov = np.hypot(dy, dx) <= r
        rgb *= fov[..., None]
        mask &= fov
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8), mask


def _jpeg(pixels: np.ndarray) -> bytes:
    """JPEG bytes with fixed settings and no EXIF, like Kvasir-SEG's images and masks."""
    buf = io.BytesIO()
    Image.fromarray(pixels).convert("RGB").save(
        buf, format="JPEG", quality=_JPEG_QUALITY, subsampling=2, optimize=False, progressive=False
    )
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    """A .zip with sorted entries, a fixed date and Unix attributes: reproducible."""
    dirs = _parent_dirs(files)
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as zf:
        for name in sorted(dirs | set(files)):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.create_system = 3
            if name in dirs:
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
            else:
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, files[name], compresslevel=_ZIP_LEVEL)
    return raw.getvalue()


def endo_frames(seed: int = 0, n_images: int = 12) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(case, RGB frame, polyp mask) of each demo endoscopy frame, before JPEG encoding."""
    rng = np.random.default_rng(seed)
    for i in range(n_images):
        image, mask = _endo_case(rng)
        yield f"demo_endo_{i:03d}", image, mask


def build_demo_endo(out: Path, seed: int = 0, n_images: int = 12) -> Path:
    """Write ``out`` (.zip): synthetic colonoscopy frames in the Kvasir-SEG layout.

    Layout: ``Kvasir-SEG-demo/images/demo_endo_NNN.jpg`` (RGB, 240..320 x 200..288 px) and
    ``Kvasir-SEG-demo/masks/demo_endo_NNN.jpg``: as in Kvasir-SEG the masks are RGB JPEGs, so
    they carry compression artefacts and must be thresholded at 128 (>= 128 is polyp).
    """
    files: dict[str, bytes] = {}
    for case, image, mask in endo_frames(seed, n_images):
        files[f"{ENDO_ROOT}/images/{case}.jpg"] = _jpeg(image)
        files[f"{ENDO_ROOT}/masks/{case}.jpg"] = _jpeg(mask.astype(np.uint8) * 255)
    write_bytes(out, _zip(files))
    return out


# --------------------------------------------------------------------------- CLI

_BUILDERS: dict[str, Callable[..., Path]] = {"ct": build_demo_ct, "endo": build_demo_endo}


def _positive(text: str) -> int:
    """argparse type: an archive with zero cases would pass its checksum yet hold nothing."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m cosmos_bench.demo {ct,endo} OUT [--seed N] [--count N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m cosmos_bench.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("kind", choices=sorted(_BUILDERS))
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=_positive, default=None, help="cases (ct) or images (endo)")
    args = parser.parse_args(argv)
    count = (
        {} if args.count is None else {"n_cases" if args.kind == "ct" else "n_images": args.count}
    )
    out = _BUILDERS[args.kind](args.out, seed=args.seed, **count)
    print(f"wrote {out} ({out.stat().st_size} bytes, sha256 {sha256_file(out)})")


if __name__ == "__main__":
    main()
