"""The next-click rules by name (infer.clicks.CLICK_RULES) against their sources' rules,
re-derived here from the sources as facts:

- RITM's evaluation clicker (`isegm/inference/clicker.py`, `_get_next_click`): OpenCV's exact L2
  distance transform of the padded false-negative and false-positive masks, clicked pixels
  zeroed, positive iff the false negatives' maximum is the larger, first pixel (row-major).
- CVPR 2025 (`CVPR25_iter_eval.py`): cc3d components (connectivity 26 in 3D, 8 on a slice) of
  `segs != gts`, the largest by `np.bincount`, scipy's EDT on its bounding box padded by
  max(25 %, 1 px), ties by `np.random.seed(42); np.random.choice`, foreground click where the
  truth is.

and on crafted masks where the rules disagree.
"""

from __future__ import annotations

import cc3d
import cv2
import numpy as np
from scipy import ndimage
from scipy.ndimage import distance_transform_edt

from cosmos_bench.infer.clicks import cvpr25_click, cvpr25_voxel, next_click, ritm_click

#: OpenCV's float32 precise transform gives equal distances values a few ulp apart (which ones
#: depends on its internal state: test_opencv_separates_equal_distances): closer is a tie
ULPS = 1e-5


def ritm_reference(gt, pred, not_clicked):
    """RITM's rule, its distances from OpenCV; equal within ULPS counts as equal."""
    fn = np.pad(gt & ~pred, 1).astype(np.uint8)
    fp = np.pad(~gt & pred, 1).astype(np.uint8)
    fn_dt = cv2.distanceTransform(fn, cv2.DIST_L2, 0)[1:-1, 1:-1] * not_clicked
    fp_dt = cv2.distanceTransform(fp, cv2.DIST_L2, 0)[1:-1, 1:-1] * not_clicked
    positive = fn_dt.max() > fp_dt.max() + ULPS
    dt = fn_dt if positive else fp_dt
    ys, xs = np.where(dt >= dt.max() - ULPS)
    return int(xs[0]), int(ys[0]), int(positive)


def cvpr25_reference(gt, pred):
    """One class of one step, the script's steps on the slice's own two axes: its EDT on a
    one-slice volume would be capped at 1 by the zero padding above and below (every pixel a
    tie), so the rule's evident intent, the in-plane distance, is what a 2D image gets."""
    (y, x), label = cvpr25_reference_nd(gt, pred, connectivity=8)
    return x, y, label


def random_pair(rng: np.random.Generator, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Blobs: a truth and a prediction that overlap it partly, sometimes touching the border."""
    yy, xx = np.mgrid[:size, :size]

    def blobs(n: int) -> np.ndarray:
        mask = np.zeros((size, size), bool)
        for _ in range(n):
            cy, cx = rng.uniform(-4, size + 4, 2)
            ry, rx = rng.uniform(2, 14, 2)
            mask |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        return mask

    return blobs(int(rng.integers(1, 4))), blobs(int(rng.integers(0, 4)))


def test_exact_distances_tie_exactly_and_opencv_agrees_within_ulps() -> None:
    """Why the project's RITM rule takes scipy's exact transform: OpenCV's precise float32
    transform agrees with it within ULPS, but gives equal distances values a few ulp apart in
    some calls (so RITM's click between tied pixels can move with float noise); scipy's equal
    distances are equal, so the first tied pixel in row-major order wins on every machine."""
    miss = np.zeros((16, 16), np.uint8)
    miss[1:15, 1:15] = 1
    exact = distance_transform_edt(np.pad(miss, 1))
    opencv = cv2.distanceTransform(np.pad(miss, 1), cv2.DIST_L2, 0)
    assert np.allclose(opencv, exact, atol=ULPS)
    assert len(np.argwhere(exact == exact.max())) == 4  # the four centre pixels, 7 px deep


def erring_pairs(seed: int, n: int = 300):
    """(generator, truth, prediction) for the random pairs whose prediction has an error."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        gt, pred = random_pair(rng)
        if (gt ^ pred).any():
            yield rng, gt, pred


def test_ritm_click_equals_ritms_clicker_with_clicks_taken_out() -> None:
    compared = 0
    for rng, gt, pred in erring_pairs(0):
        clicked = [tuple(map(int, rng.integers(0, 48, 2))) for _ in range(3)]
        not_clicked = np.ones(gt.shape, np.float32)
        for x, y in clicked:
            not_clicked[y, x] = 0
        if ((gt ^ pred) * not_clicked).max() == 0:
            continue
        assert ritm_click(gt, pred, clicked) == ritm_reference(gt, pred, not_clicked)
        compared += 1
    assert compared > 250


def test_cvpr25_click_equals_the_challenges_rule() -> None:
    compared = 0
    for _, gt, pred in erring_pairs(1):
        assert cvpr25_click(gt, pred) == cvpr25_reference(gt, pred)
        compared += 1
    assert compared > 250


def test_square_ties_are_drawn_with_seed_42_not_taken_first() -> None:
    """A 4 x 4 miss has four pixels at the maximum distance (2): CVPR 2025 draws one with its
    seed, RITM takes the first in row-major order."""
    gt = np.zeros((20, 20), bool)
    gt[5:9, 5:9] = True
    pred = np.zeros_like(gt)
    ties = [(6, 6), (7, 6), (6, 7), (7, 7)]  # (x, y) in row-major order
    np.random.seed(42)
    assert cvpr25_click(gt, pred) == (*ties[np.random.choice(4)], 1)
    assert ritm_click(gt, pred) == (6, 6, 1)


def test_the_rules_disagree_on_a_thick_miss_and_a_wide_thin_false_positive() -> None:
    """A 9 x 9 miss (81 px, centre 5 px deep) and a 3 x 40 false-positive band (120 px, 2 px
    deep): RITM clicks the miss's centre (deepest) positively; the area-ranked rules click the
    band (largest) negatively: the first of its deepest pixels, or one drawn with seed 42."""
    gt = np.zeros((48, 48), bool)
    gt[1:10, 26:35] = True  # a miss: the prediction has none of it
    pred = np.zeros_like(gt)
    pred[23:26, 2:42] = True  # a false positive
    assert ritm_click(gt, pred) == ritm_reference(gt, pred, 1) == (30, 5, 1)
    assert next_click(gt, pred) == (3, 24, 0)  # x = 2 is 1 px from the band's end
    np.random.seed(42)
    assert cvpr25_click(gt, pred) == (3 + np.random.choice(38), 24, 0)


def test_a_miss_touching_a_false_positive_is_one_region_for_cvpr25_only() -> None:
    """CVPR 2025 labels `segs != gts` as one mask: a thin 4 x 30 miss with an 8 x 8 false
    positive against it is one region, deepest in the square, so the click is negative; the
    largest-region rule sees the miss alone as the largest region and clicks it positively."""
    gt = np.zeros((40, 40), bool)
    gt[10:14, 5:35] = True  # the miss (120 px, 2 px deep)
    pred = np.zeros_like(gt)
    pred[14:22, 16:24] = True  # the false positive (64 px, 4 px deep), touching it
    assert cvpr25_click(gt, pred) == cvpr25_reference(gt, pred)
    assert cvpr25_click(gt, pred)[2] == 0 and next_click(gt, pred)[2] == 1
    assert ritm_click(gt, pred)[2] == 0  # RITM: the deeper error, whatever its area


def cvpr25_reference_nd(
    gt: np.ndarray, pred: np.ndarray, connectivity: int = 26
) -> tuple[tuple[int, ...], int]:
    """The script's steps: cc3d's error components (26-connected in a volume, 8 in an image),
    the largest one's EDT in its bounding box padded by a quarter of its size (at least 1),
    seed-42 tie draw."""
    gts, segs = gt.astype(np.uint8), pred.astype(np.uint8)
    errors = cc3d.connected_components((segs != gts).astype(np.uint8), connectivity=connectivity)
    sizes = np.bincount(errors.flat)
    sizes[0] = 0
    component = errors == np.argmax(sizes)
    coords = np.argwhere(component)
    lo, hi = coords.min(axis=0), coords.max(axis=0) + 1
    crop = hi - lo
    pad = np.maximum((crop * 0.25).astype(int), 1)
    box = np.zeros(crop + 2 * pad, np.uint8)
    inside = tuple(slice(p, p + c) for p, c in zip(pad, crop, strict=True))
    box[inside] = component[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
    edt = np.zeros(component.shape)
    edt[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = distance_transform_edt(box)[
        inside
    ]
    np.random.seed(42)
    ties = np.argwhere(edt == edt.max())
    at = tuple(int(v) for v in ties[np.random.choice(len(ties))])
    return at, int(gts[at])


def test_the_3d_cvpr25_click_is_the_challenges_on_volumes() -> None:
    """26-connected components in a volume: two error blobs touching only at a corner are one."""
    rng = np.random.default_rng(5)
    zz, yy, xx = np.mgrid[:12, :24, :24]
    for _ in range(60):
        gt = np.zeros((12, 24, 24), bool)
        pred = np.zeros_like(gt)
        for mask in (gt, pred):
            for _ in range(rng.integers(1, 3)):
                c = rng.integers([2, 4, 4], [10, 20, 20])
                r = rng.uniform(2, 6)
                mask |= (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 < r * r
        if (gt == pred).all():
            continue
        assert cvpr25_voxel(gt, pred) == cvpr25_reference_nd(gt, pred)
    corner = np.zeros((4, 4, 4), bool)
    corner[0, 0, 0] = corner[1, 1, 1] = corner[2, 2, 2] = True
    assert cvpr25_voxel(corner, np.zeros_like(corner))[1] == 1
    labelled = ndimage.label(corner, ndimage.generate_binary_structure(3, 3))[1]
    assert labelled == 1  # one component through the corners
