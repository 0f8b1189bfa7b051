"""Synthetic colonoscopy frames in the Kvasir-SEG layout (the demo-endo dataset)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from scipy import ndimage

from cosmos_bench.acquire.demo.archives import _jpeg, _zip
from cosmos_bench.acquire.demo.noise import _fine_noise, _smooth_field
from cosmos_bench.core.atomic import write_bytes

ENDO_ROOT = "Kvasir-SEG-demo"


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
