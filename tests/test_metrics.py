"""Metrics against independent references, and the documented differences from MedPy and MONAI.

The reference below is written from DeepMind surface-distance's published 2D definition, and
it runs on the full, uncropped image:
- Contour elements sit at the corners of the pixel grid. A corner is one when its four
  pixels are neither all inside nor all outside.
- Each element's weight is the length of the marching-squares segments in the cell spanned
  by those four pixel centres. The segments are measured geometrically, not looked up.
- Distances between elements are brute-force Euclidean in mm.
- HD95 is the larger of the two directed weighted 95th percentiles. ASD is the mean of the two
  directed weighted means. NSD is the surface Dice at the tolerance.
"""

from __future__ import annotations

import importlib.util
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cosmos_bench.score import metrics

HAS_MEDPY = importlib.util.find_spec("medpy") is not None
HAS_MONAI = importlib.util.find_spec("monai") is not None
# Dyadic spacings and tolerances keep every coordinate and squared distance exact in binary.
# Then "distance <= tolerance" cannot flip on a rounding difference between two correct
# implementations.
SPACINGS = st.sampled_from([0.5, 0.75, 1.0, 1.25, 2.0])
TOLERANCES = st.sampled_from([0.5, 1.0, 2.0, 3.0])


# ---------------------------------------------------------------- independent reference


def reference_surfels(mask: np.ndarray, spacing) -> tuple[np.ndarray, np.ndarray]:
    """Corner points (mm) and contour lengths (mm) of a mask, from the definition."""
    sy, sx = spacing
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), bool)
    padded[1:-1, 1:-1] = mask
    # cell corners are pixel centres; edge midpoints relative to the grid corner (y, x) in mm
    mid = {
        "top": (-sy / 2, 0.0),
        "bottom": (sy / 2, 0.0),
        "left": (0.0, -sx / 2),
        "right": (0.0, sx / 2),
    }
    points, lengths = [], []
    for i in range(h + 1):
        for j in range(w + 1):
            tl, tr = padded[i, j], padded[i, j + 1]
            bl, br = padded[i + 1, j], padded[i + 1, j + 1]
            if tl == tr == bl == br:
                continue
            crossed = [
                name
                for name, (a, b) in {
                    "top": (tl, tr),
                    "bottom": (bl, br),
                    "left": (tl, bl),
                    "right": (tr, br),
                }.items()
                if a != b
            ]
            if len(crossed) == 2:
                pairs = [tuple(crossed)]
            else:  # saddle: the two inside corners are cut off separately
                pairs = (
                    [("top", "left"), ("bottom", "right")]
                    if tl
                    else [("top", "right"), ("bottom", "left")]
                )
            length = sum(math.dist(mid[a], mid[b]) for a, b in pairs)
            points.append(((i - 0.5) * sy, (j - 0.5) * sx))
            lengths.append(length)
    return np.array(points, float).reshape(-1, 2), np.array(lengths)


def nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)).min(axis=1)


def percentile_range(d: np.ndarray, w: np.ndarray, percent: float) -> tuple[float, float]:
    """The weighted percentile (smallest distance whose cumulative weight reaches percent),
    as a range. The range is wider than one value only when a cumulative weight lies within
    1e-9 of the threshold, where float rounding decides in every implementation."""
    order = np.argsort(d, kind="stable")
    cum = np.cumsum(w[order]) / w.sum()
    p = percent / 100
    lo = min(int(np.searchsorted(cum, p - 1e-9)), len(d) - 1)
    hi = min(int(np.searchsorted(cum, p + 1e-9)), len(d) - 1)
    return float(d[order[lo]]), float(d[order[hi]])


def boundary_pixels(mask: np.ndarray) -> np.ndarray:
    """Pixels of the mask with a 4-neighbour outside it (outside the image counts)."""
    h, w = mask.shape
    out = []
    for y, x in zip(*np.nonzero(mask), strict=True):
        neighbours = [(y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)]
        if any(not (0 <= v < h and 0 <= u < w) or not mask[v, u] for v, u in neighbours):
            out.append((y, x))
    return np.array(out, float)


def reference(pred: np.ndarray, gt: np.ndarray, spacing, tolerance: float) -> dict:
    pg, wg = reference_surfels(gt, spacing)
    pp, wp = reference_surfels(pred, spacing)
    d_gp, d_pg = nearest(pg, pp), nearest(pp, pg)
    (a_lo, a_hi), (b_lo, b_hi) = percentile_range(d_gp, wg, 95), percentile_range(d_pg, wp, 95)
    bg, bp = boundary_pixels(gt), boundary_pixels(pred)
    a, b = {tuple(p) for p in np.argwhere(pred)}, {tuple(p) for p in np.argwhere(gt)}
    return {
        "dice": 2 * len(a & b) / (len(a) + len(b)),
        "iou": len(a & b) / len(a | b),
        "hd95": (max(a_lo, b_lo), max(a_hi, b_hi)),
        "asd": ((d_gp * wg).sum() / wg.sum() + (d_pg * wp).sum() / wp.sum()) / 2,
        "nsd": (wg[d_gp <= tolerance].sum() + wp[d_pg <= tolerance].sum()) / (wg.sum() + wp.sum()),
        "hd_px": max(nearest(bg, bp).max(), nearest(bp, bg).max()),
    }


def assert_matches_reference(pred, gt, spacing, tolerance) -> metrics.Scores:
    got = metrics.score(pred, gt, spacing, tolerance)
    ref = reference(pred, gt, spacing, tolerance)
    assert got.dice == ref["dice"] and got.iou == ref["iou"]  # exact
    lo, hi = ref["hd95"]
    assert lo - 1e-6 <= got.hd95_mm <= hi + 1e-6
    assert got.asd_mm == pytest.approx(ref["asd"], abs=1e-6)
    assert got.nsd == pytest.approx(ref["nsd"], abs=1e-6)
    assert got.hd_px == pytest.approx(ref["hd_px"], abs=1e-6)
    assert got.conformity == pytest.approx((3 * got.dice - 2) / got.dice if got.dice else 0.0)
    assert not got.empty_prediction and got.pred_area_px == int(pred.sum())
    return got


# ---------------------------------------------------------------- masks to test on

shapes = st.tuples(st.integers(1, 20), st.integers(1, 20))
random_masks = shapes.flatmap(lambda s: st.tuples(arrays(np.bool_, s), arrays(np.bool_, s)))


@st.composite
def structured_pair(draw) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of the shapes random noise rarely makes: pixels, lines, holes, border contact."""
    h, w = draw(st.integers(3, 22)), draw(st.integers(3, 22))

    def one() -> np.ndarray:
        m = np.zeros((h, w), bool)
        kind = draw(st.sampled_from(["pixel", "hline", "vline", "ring", "box", "full", "diag"]))
        y, x = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        if kind == "pixel":
            m[y, x] = True
        elif kind == "hline":
            m[y, x:] = True
        elif kind == "vline":
            m[: y + 1, x] = True
        elif kind == "ring":  # a box with a hole (when large enough), may touch the border
            m[max(0, y - 3) : y + 3, max(0, x - 3) : x + 3] = True
            m[max(0, y - 1) : y + 1, max(0, x - 1) : x + 1] = False
        elif kind == "box":
            m[y:, : x + 1] = True  # touches the image border
        elif kind == "full":
            m[:] = True
        else:
            k = np.arange(min(h, w))
            m[k, k] = True  # 8-connected only: a saddle at every step
        if not m.any():
            m[y, x] = True
        return m

    return one(), one()


@given(random_masks, SPACINGS, SPACINGS, TOLERANCES)
@settings(max_examples=300, deadline=None)
def test_random_masks_match_the_reference(pair, sy, sx, tolerance) -> None:
    pred, gt = pair
    if not gt.any() or not pred.any():
        return
    assert_matches_reference(pred, gt, (sy, sx), tolerance)


@given(structured_pair(), SPACINGS, SPACINGS, TOLERANCES)
@settings(max_examples=300, deadline=None)
def test_pixels_lines_holes_and_borders_match_the_reference(pair, sy, sx, tolerance) -> None:
    pred, gt = pair
    assert_matches_reference(pred, gt, (sy, sx), tolerance)


@given(random_masks, st.floats(0.05, 5.0), st.floats(0.05, 5.0))
@settings(max_examples=150, deadline=None)
def test_arbitrary_anisotropic_spacing(pair, sy, sx) -> None:
    """Any float spacing; the tolerance sits between grid distances (irrational ratio)."""
    pred, gt = pair
    if gt.any() and pred.any():
        assert_matches_reference(pred, gt, (sy, sx), math.pi * min(sy, sx))


@given(random_masks, SPACINGS, SPACINGS)
@settings(max_examples=150, deadline=None)
def test_overlap_helpers_agree_with_score(pair, sy, sx) -> None:
    pred, gt = pair
    if gt.any():
        got = metrics.score(pred, gt, (sy, sx), 2.0)
        assert got.dice == metrics.dice(pred, gt) and got.iou == metrics.iou(pred, gt)


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.3, 3.0), (2.5, 0.4)])
def test_hd_px_pruning_is_exact_on_large_anisotropic_shapes(spacing) -> None:
    """HD px searches only the pixels that can be farthest, with bounds taken from the
    surfel distances in mm. That must hold for any spacing and any shape."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:90, :110]
    for _ in range(4):
        cy, cx, r = rng.uniform(30, 60), rng.uniform(30, 80), rng.uniform(8, 25)
        gt = np.hypot(yy - cy, (xx - cx) * rng.uniform(0.5, 2)) < r
        pred = np.hypot(yy - cy - rng.normal(0, 5), xx - cx - rng.normal(0, 5)) < r * 1.1
        pred[rng.integers(0, 90), rng.integers(0, 110)] = True  # a stray pixel
        bg, bp = boundary_pixels(gt), boundary_pixels(pred)
        exhaustive = max(nearest(bg, bp).max(), nearest(bp, bg).max())
        assert metrics.score(pred, gt, spacing, 2.0).hd_px == pytest.approx(exhaustive, abs=1e-9)


def test_crop_and_position_do_not_change_the_metrics() -> None:
    """The score of two masks is the same when they sit inside a larger image."""
    rng = np.random.default_rng(3)
    gt = rng.random((15, 18)) > 0.4
    pred = rng.random((15, 18)) > 0.5
    small = metrics.score(pred, gt, (0.6, 1.1), 1.5)
    big_pred, big_gt = np.zeros((80, 90), bool), np.zeros((80, 90), bool)
    big_pred[40:55, 30:48], big_gt[40:55, 30:48] = pred, gt
    big = metrics.score(big_pred, big_gt, (0.6, 1.1), 1.5)
    for name in ("dice", "iou", "hd_px", "hd95_mm", "asd_mm", "nsd"):
        assert getattr(big, name) == pytest.approx(getattr(small, name), abs=1e-12)


@pytest.mark.parametrize("top", range(6))
def test_nsd_counts_a_tolerance_tie_wherever_the_object_sits(top: int) -> None:
    """Two 12 px squares 2 rows apart at 0.7 mm: every contour point lies within 2 x 0.7 =
    1.4 mm of the other contour, so NSD at 1.4 mm is 1 (as in surface-distance). Rounding
    made some of those ties 1.4000000000000001 depending on the row, and NSD moved with the
    object (0.564 here, 1.0 there)."""
    nsd = []
    for shift in (0, 14):
        gt, pred = np.zeros((32, 40), bool), np.zeros((32, 40), bool)
        gt[top + shift : top + shift + 12, 5:17] = True
        pred[top + shift + 2 : top + shift + 14, 5:17] = True
        nsd.append(metrics.score(pred, gt, (0.7, 0.7), 1.4).nsd)
    assert nsd == [1.0, 1.0]


def test_a_shared_ground_truth_boundary_gives_the_same_scores() -> None:
    rng = np.random.default_rng(4)
    gt = rng.random((30, 30)) > 0.5
    boundary = metrics.Boundary.of(gt, (0.5, 0.8))
    for _ in range(5):
        pred = rng.random((30, 30)) > 0.5
        assert metrics.score(pred, gt, (0.5, 0.8), 2.0, boundary) == metrics.score(
            pred, gt, (0.5, 0.8), 2.0
        )


def test_identical_masks_score_perfectly() -> None:
    yy, xx = np.mgrid[:40, :50]
    gt = np.hypot(yy - 20, xx - 25) < 11
    s = metrics.score(gt, gt, (0.7, 0.9), 2.0)
    assert (s.dice, s.iou, s.conformity, s.nsd) == (1.0, 1.0, 1.0, 1.0)
    assert (s.hd_px, s.hd95_mm, s.asd_mm) == (0.0, 0.0, 0.0)


def test_an_empty_prediction_scores_the_penalty_and_is_flagged() -> None:
    gt = np.zeros((30, 40), bool)
    gt[5:9, 7:20] = True
    s = metrics.score(np.zeros_like(gt), gt, (0.5, 2.0), 2.0)
    assert s.empty_prediction and s.pred_area_px == 0
    assert (s.dice, s.iou, s.nsd, s.conformity) == (0.0, 0.0, 0.0, 0.0)
    assert s.hd_px == pytest.approx(50.0)  # the diagonal of 30 x 40 px
    assert s.hd95_mm == s.asd_mm == pytest.approx(math.hypot(15.0, 80.0))  # the diagonal in mm
    assert all(math.isfinite(v) for v in (s.hd_px, s.hd95_mm, s.asd_mm))


def test_the_penalty_exceeds_any_real_distance() -> None:
    """Two single pixels in opposite corners are the farthest pair an image can hold."""
    gt, pred = np.zeros((20, 30), bool), np.zeros((20, 30), bool)
    gt[0, 0], pred[-1, -1] = True, True
    far = metrics.score(pred, gt, (0.5, 1.5), 2.0)
    empty = metrics.score(np.zeros_like(gt), gt, (0.5, 1.5), 2.0)
    assert far.hd95_mm < empty.hd95_mm and far.hd_px < empty.hd_px


def test_ground_truth_must_not_be_empty_and_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="ground truth is empty"):
        metrics.score(np.ones((4, 4), bool), np.zeros((4, 4), bool), (1, 1), 2.0)
    with pytest.raises(ValueError, match="one 2D shape"):
        metrics.score(np.ones((4, 4), bool), np.ones((4, 5), bool), (1, 1), 2.0)
    with pytest.raises(ValueError, match="spacing"):
        metrics.score(np.ones((4, 4), bool), np.ones((4, 4), bool), (float("nan"), 1), 2.0)


def test_conformity_convention() -> None:
    assert metrics.conformity(0.0) == 0.0  # official COSMOS code: 0 when Dice is 0
    assert metrics.conformity(1.0) == 1.0
    assert metrics.conformity(0.5) == pytest.approx(-1.0)
    assert metrics.conformity(0.01) == pytest.approx(-197.0)  # unbounded below


def test_contour_length_of_a_box_is_its_perimeter_minus_the_corner_cuts() -> None:
    """A 4 x 6 px box at 0.5 x 2 mm. Each side has (n - 1) straight cells, 3 of 0.5 mm and
    5 of 2 mm. Each of the four corner cells cuts half a pixel diagonal."""
    gt = np.zeros((10, 10), bool)
    gt[2:6, 2:8] = True
    b = metrics.Boundary.of(gt, (0.5, 2.0))
    half = 0.5 * math.hypot(0.5, 2.0)
    straight = 2 * (3 * 0.5 + 5 * 2.0)
    assert b.lengths.sum() == pytest.approx(straight + 4 * half)


# ---------------------------------------------------------------- MedPy


@pytest.mark.skipif(not HAS_MEDPY, reason="medpy is not installed")
@given(random_masks)
@settings(max_examples=100, deadline=None)
def test_hd_px_is_medpy_hd_as_the_paper_used_it(pair) -> None:
    from medpy.metric import binary

    pred, gt = pair
    if gt.any() and pred.any():
        ours = metrics.score(pred, gt, (0.5, 2.0), 2.0).hd_px  # HD px ignores the spacing
        assert ours == pytest.approx(binary.hd(pred, gt), abs=1e-9)


def far_blob_case() -> tuple[np.ndarray, np.ndarray]:
    """A prediction that hits the object and adds a small false blob about 58 px away."""
    yy, xx = np.mgrid[:128, :128]
    gt = np.hypot(yy - 40, xx - 40) < 25
    pred = gt.copy()
    pred[98:102, 98:102] = True
    return pred, gt


@pytest.mark.skipif(not HAS_MEDPY, reason="medpy is not installed")
def test_medpy_pools_both_directions_for_hd95(capsys) -> None:
    """MedPy's hd95 takes one percentile over both directions pooled. The blob's boundary is
    over 5 % of the prediction's boundary but under 5 % of both boundaries together. So MedPy
    reports 0 px, and the max of the two directed percentiles reports the blob's distance."""
    from medpy.metric import binary

    pred, gt = far_blob_case()
    surface = getattr(binary, "__surface_distances")
    pred_to_gt, gt_to_pred = surface(pred, gt), surface(gt, pred)
    medpy_pooled = binary.hd95(pred, gt)
    medpy_directed = max(np.percentile(pred_to_gt, 95), np.percentile(gt_to_pred, 95))
    ours = metrics.score(pred, gt, (1.0, 1.0), 2.0).hd95_mm
    with capsys.disabled():
        print(
            f"\nfar blob HD95: MedPy pooled {medpy_pooled:.2f} px, max of MedPy's directed "
            f"percentiles {medpy_directed:.2f} px, ours (surfels, max of directed) {ours:.2f} mm"
        )
    assert medpy_pooled < 1.0
    assert ours > 55 and medpy_directed > 55
    assert ours == pytest.approx(medpy_directed, abs=1.5)  # boundary convention, not pooling


@pytest.mark.skipif(not HAS_MEDPY, reason="medpy is not installed")
def test_medpy_raises_on_an_empty_prediction() -> None:
    from medpy.metric import binary

    _, gt = far_blob_case()
    with pytest.raises(RuntimeError):
        binary.hd95(np.zeros_like(gt), gt)
    assert metrics.score(np.zeros_like(gt), gt, (1.0, 1.0), 2.0).empty_prediction


# ---------------------------------------------------------------- MONAI


def one_hot(mask: np.ndarray):
    import torch

    return torch.from_numpy(np.stack([~mask, mask])[None].astype(np.float32))


def small_shifted_disks() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:64, :64]
    return np.hypot(yy - 32, xx - 33) < 8.5, np.hypot(yy - 30, xx - 31) < 8


@pytest.mark.skipif(not HAS_MONAI, reason="monai is not installed")
def test_monai_nan_and_inf_for_an_empty_prediction_where_we_score_a_penalty(capsys) -> None:
    from monai.metrics import compute_hausdorff_distance, compute_surface_dice

    _, gt = small_shifted_disks()
    empty = np.zeros_like(gt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd95 = compute_hausdorff_distance(one_hot(empty), one_hot(gt), percentile=95).item()
        hd = compute_hausdorff_distance(one_hot(empty), one_hot(gt)).item()
        nsd = compute_surface_dice(one_hot(empty), one_hot(gt), [2.0]).item()
    ours = metrics.score(empty, gt, (1.0, 1.0), 2.0)
    with capsys.disabled():
        print(f"\nempty prediction: MONAI HD95 {hd95}, HD {hd}, NSD {nsd}; ours {ours}")
    assert math.isnan(hd95) and math.isinf(hd)  # a mean over masks drops or blows up
    assert nsd == 0.0 == ours.nsd
    assert ours.empty_prediction and math.isfinite(ours.hd95_mm)


@pytest.mark.skipif(not HAS_MONAI, reason="monai is not installed")
@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.7, 1.3)])
def test_monai_nsd_counts_edge_pixels_unless_subvoxels(spacing, capsys) -> None:
    """MONAI's default NSD counts boundary pixels with equal weight. Its use_subvoxels=True
    option uses surface-distance's weighted grid-corner contour, and agrees with ours to
    MONAI's float32 precision."""
    from monai.metrics import compute_surface_dice

    pred, gt = small_shifted_disks()
    ours = metrics.score(pred, gt, spacing, 2.0).nsd
    args = (one_hot(pred), one_hot(gt), [2.0])
    default = compute_surface_dice(*args, spacing=spacing).item()
    subvoxels = compute_surface_dice(*args, spacing=spacing, use_subvoxels=True).item()
    with capsys.disabled():
        print(
            f"\nNSD@2 {spacing}: ours {ours:.4f}, MONAI default {default:.4f}, "
            f"MONAI subvoxels {subvoxels:.4f}"
        )
    assert subvoxels == pytest.approx(ours, abs=1e-6)
    assert abs(default - ours) > 0.02
