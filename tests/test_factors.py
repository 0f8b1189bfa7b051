"""Object factors: known shapes give known values; every mask gives well-formed factors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cosmos_bench.catalog.cards import load_ontology
from cosmos_bench.score import factors

ROOT = Path(__file__).resolve().parents[1]


def disk(radius: float, size: int = 200) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.hypot(yy - size / 2, xx - size / 2) <= radius


def ellipse(a: float, b: float, size: int = 200) -> np.ndarray:
    """Semi-axes a (along x) and b (along y)."""
    yy, xx = np.mgrid[:size, :size] - size / 2
    return (xx / a) ** 2 + (yy / b) ** 2 <= 1


def star(points: int, size: int = 240, depth: float = 0.35) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - size / 2
    radius = size * 0.3 * (1 + depth * np.cos(points * np.arctan2(yy, xx)))
    return np.hypot(yy, xx) <= radius


def test_aspect_ratio_of_a_disk_and_a_two_to_one_ellipse() -> None:
    assert factors.aspect_ratio(disk(40)) == 1.0
    assert factors.aspect_ratio(ellipse(60, 30)) == pytest.approx(0.5, abs=0.01)
    assert factors.aspect_ratio(ellipse(30, 60)) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("rgb", [False, True])
def test_a_contrast_step_of_100_gives_100(rgb: bool) -> None:
    mask = disk(30)
    image = np.where(mask, 170, 70).astype(np.uint8)
    if rgb:
        image = np.stack([image, image + 10, image - 10], axis=2)
    assert factors.intensity_difference(image, mask) == pytest.approx(100.0)


def test_the_ring_is_the_box_grown_by_a_tenth_per_side_without_the_object() -> None:
    """Only pixels within ceil(0.1 x side) of the box count as surroundings."""
    image = np.full((100, 100), 200.0)
    mask = np.zeros((100, 100), bool)
    mask[40:60, 30:70] = True  # 20 x 40 px: grow 2 px in y, 4 px in x
    image[mask] = 0.0
    image[38:62, 26:74][~mask[38:62, 26:74]] = 100.0  # the ring
    assert factors.intensity_difference(image, mask) == pytest.approx(100.0)
    # a 5 px side grows by ceil(0.5) = 1 px; at the image border the box is clipped
    small = np.zeros((20, 20), bool)
    small[0:5, 0:5] = True
    picture = np.where(small, 10.0, 0.0)
    picture[6:, :] = picture[:, 6:] = 500.0  # beyond the grown box: never read
    assert factors.intensity_difference(picture, small) == pytest.approx(10.0)


def test_an_object_that_fills_its_grown_box_has_no_surroundings() -> None:
    assert math.isnan(factors.intensity_difference(np.ones((6, 6)), np.ones((6, 6), bool)))


def test_efd_of_a_circle_is_one_harmonic() -> None:
    """A counter-clockwise circle of radius R around (cx, cy), starting at angle 0:
    x = cx + R cos, y = cy + R sin, so (a1, b1, c1, d1) = (R, 0, 0, R) and nothing above."""
    t = np.linspace(0, 2 * np.pi, 4000, endpoint=False)
    contour = np.column_stack([12 + 30 * np.cos(t), -5 + 30 * np.sin(t)])
    coeffs = factors.efd(contour, np.arange(1, 6))
    assert coeffs[0] == pytest.approx([30, 0, 0, 30], abs=1e-3)
    assert np.abs(coeffs[1:]).max() < 1e-3
    assert factors.efd_offset(contour) == pytest.approx((12, -5), abs=1e-9)


def reconstruct(contour: np.ndarray, order: int, samples: int) -> np.ndarray:
    """x(t), y(t) from the first `order` harmonics at `samples` equal steps of arc length."""
    n = np.arange(1, order + 1)
    a, b, c, d = factors.efd(contour, n).T
    angle = n[:, None] * 2 * np.pi * np.arange(samples) / samples
    x0, y0 = factors.efd_offset(contour)
    cos, sin = np.cos(angle), np.sin(angle)
    return np.column_stack([x0 + a @ cos + b @ sin, y0 + c @ cos + d @ sin])


def test_efd_reconstruction_converges_to_the_polygon() -> None:
    """A 10 x 10 square from 4 corners; its perimeter of 40 split into 200 equal steps lands
    on 50 points per side, and the series converges to them (slowest at the corners)."""
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    ends = np.roll(square, -1, axis=0)
    points = np.concatenate(
        [np.linspace(p, q, 50, endpoint=False) for p, q in zip(square, ends, strict=True)]
    )
    errors = [np.abs(reconstruct(square, n, 200) - points).max() for n in (10, 50, 200)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.05


def test_a_disk_needs_one_order_and_a_star_more() -> None:
    round_ = factors.fourier_complexity(factors.outer_contour(disk(60)))
    assert (round_.order_paper, round_.order) == (1, 1) and round_.dice > 0.97
    for k in (4, 5, 7):
        c = factors.fourier_complexity(factors.outer_contour(star(k)))
        assert c.order >= k - 1 > round_.order  # a k-fold shape has no harmonics 2 .. k-2
        assert c.dice > factors.DICE_TARGET
        # the paper's gain rule stops at the order-2 plateau, far from the shape
        assert c.order_paper == 2 and c.dice_paper < 0.9
        assert factors.Complexity.f_final(c.order_paper, c.dice_paper) > 20


def test_f_final_is_the_papers_formula() -> None:
    assert factors.Complexity.f_final(3, 0.98) == pytest.approx(3 + 2 * 100 * 0.02)
    f = factors.object_factors(np.zeros((240, 240), np.uint8), star(5), (0.5, 0.5), 4)
    assert f.f_final == pytest.approx(f.fourier_order + 200 * (1 - f.fourier_dice))
    assert f.f_final_paper == pytest.approx(
        f.fourier_order_paper + 200 * (1 - f.fourier_dice_paper)
    )
    assert f.modality_code == 4 and f.area_mm2 == pytest.approx(f.area_px * 0.25)


def test_unknown_spacing_gives_no_area_in_mm2() -> None:
    f = factors.object_factors(np.zeros((200, 200)), disk(20), (float("nan"),) * 2, 0)
    assert math.isnan(f.area_mm2) and f.area_px == int(disk(20).sum())


def test_modality_codes_follow_the_ontology() -> None:
    ontology = load_ontology(ROOT)
    codes = factors.modality_codes(ontology)
    assert list(codes) == list(ontology["modalities"])
    assert codes["CT"] == 0 and sorted(codes.values()) == list(range(len(codes)))


# ---------------------------------------------------------------- every mask


@st.composite
def masks(draw) -> np.ndarray:
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    kind = draw(st.sampled_from(["random", "pixel", "line", "ring", "border"]))
    if kind == "random":
        m = draw(arrays(np.bool_, (h, w)))
    else:
        m = np.zeros((h, w), bool)
        y, x = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        if kind == "pixel":
            m[y, x] = True
        elif kind == "line":
            m[y, :] = True
        elif kind == "ring":
            m[max(0, y - 6) : y + 6, max(0, x - 6) : x + 6] = True
            m[max(0, y - 2) : y + 2, max(0, x - 2) : x + 2] = False
        else:
            m[y:, x:] = True
    if not m.any():
        m[0, 0] = True
    return m


@given(masks(), st.integers(0, 3))
@settings(max_examples=200, deadline=None)
def test_every_mask_gets_well_formed_factors(mask: np.ndarray, seed: int) -> None:
    image = np.random.default_rng(seed).integers(0, 256, mask.shape).astype(np.uint8)
    f = factors.object_factors(image, mask, (0.5, 2.0), 1)
    assert f.area_px == mask.sum() and f.area_mm2 == pytest.approx(mask.sum() * 1.0)
    assert 0 < f.aspect_ratio <= 1
    assert math.isnan(f.intensity_difference) or 0 <= f.intensity_difference <= 255
    assert 1 <= f.fourier_order_paper <= f.fourier_order <= factors.MAX_ORDER
    assert 0 <= f.fourier_dice_paper <= 1 and 0 <= f.fourier_dice <= 1
    assert f.f_final >= f.fourier_order and f.f_final_paper >= f.fourier_order_paper
    if f.fourier_order < factors.MAX_ORDER:
        assert f.fourier_dice > factors.DICE_TARGET


@given(masks(), st.integers(0, 20), st.integers(0, 20))
@settings(max_examples=100, deadline=None)
def test_factors_do_not_depend_on_where_the_object_lies(mask, dy, dx) -> None:
    image = np.arange(mask.size, dtype=np.float64).reshape(mask.shape) % 97
    h, w = mask.shape
    big_mask, big_image = np.zeros((h + 40, w + 40), bool), np.zeros((h + 40, w + 40))
    big_mask[20 + dy - 10 : 20 + dy - 10 + h, 20 + dx - 10 : 20 + dx - 10 + w] = mask
    big_image[20 + dy - 10 : 20 + dy - 10 + h, 20 + dx - 10 : 20 + dx - 10 + w] = image
    here = factors.object_factors(big_image, big_mask, (1.0, 1.0), 0)
    contour = factors.outer_contour(mask)
    assert here.aspect_ratio == factors.aspect_ratio(mask)
    c = factors.fourier_complexity(contour)
    assert (here.fourier_order, here.fourier_order_paper) == (c.order, c.order_paper)
    assert here.fourier_dice == pytest.approx(c.dice, abs=1e-12)
