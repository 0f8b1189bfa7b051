"""Prompt strategies against prompts computed by hand on odd shapes, plus their invariants.

Expected points are written out as worked by hand from the paper's rules (cosmos.md section 4):
row-major foreground pixels, stride N // 5, the centre of mass first when it lies inside, and
negatives over the background of the 2x box. Points are (x, y). Jittered strategies (section 8)
are checked with lo == hi where a length is then exact, and by properties of their draws.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cosmos_bench.core.strategies import (
    JITTER_MODES,
    N_POINTS,
    Jitter,
    base_of,
    enlarged_box,
    is_jittered,
    jitter_of,
    jitter_strategies,
    kinds_of,
    make_prompt,
    prompt_seed,
    tight_box,
)

masks = arrays(np.bool_, st.tuples(st.integers(1, 24), st.integers(1, 24))).filter(np.any)


def block(shape: tuple[int, int], rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """A mask with the inclusive rectangle rows x cols set."""
    mask = np.zeros(shape, bool)
    mask[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1] = True
    return mask


def positives(strategy: str, mask: np.ndarray) -> list[tuple[float, float]]:
    prompt = make_prompt(strategy, mask)
    return [tuple(p) for p in prompt.points[prompt.point_labels == 1].tolist()]


def negatives(mask: np.ndarray) -> list[tuple[float, float]]:
    prompt = make_prompt("S4", mask)
    return [tuple(p) for p in prompt.points[prompt.point_labels == 0].tolist()]


def test_tight_box_is_inclusive_and_unpadded() -> None:
    assert tight_box(block((10, 12), (2, 4), (3, 8))).tolist() == [3, 2, 8, 4]


def test_rectangle_s2_s5_s6() -> None:
    mask = block((20, 20), (4, 8), (10, 16))  # centre of mass (13, 6), inside
    assert positives("S2", mask) == [(13.0, 6.0)]
    s5, s6 = make_prompt("S5", mask), make_prompt("S6", mask)
    assert s5.points is None and s5.box.tolist() == [10, 4, 16, 8]
    assert s6.box.tolist() == [10, 4, 16, 8]
    assert s6.points.tolist() == [[13.0, 6.0]] and s6.point_labels.tolist() == [1]


def test_square_ring_centroid_in_the_hole() -> None:
    ring = block((9, 9), (1, 7), (1, 7)) & ~block((9, 9), (3, 5), (3, 5))  # 40 px
    # centre of mass (4, 4) is in the hole: all five positives come from stride 8
    assert positives("S2", ring) == [(1, 1)]
    assert positives("S3", ring) == [(1, 1), (2, 2), (6, 3), (6, 5), (7, 6)]
    # box [1, 1, 7, 7] scaled 2x is [-2, 10]^2, clipped to the whole 9x9 image; 41 background
    # pixels (the hole included), stride 8
    assert enlarged_box(ring) == (0, 0, 8, 8)
    assert negatives(ring) == [(0, 0), (8, 0), (5, 3), (3, 5), (0, 8)]


def test_c_shape_centroid_in_the_opening() -> None:
    c = block((12, 12), (3, 7), (3, 7)) & ~block((12, 12), (4, 6), (4, 7))  # 13 px, open right
    # centre of mass (59/13, 5) ~ (4.54, 5): its pixel (5, 5) is in the opening; stride 2
    assert positives("S2", c) == [(3, 3)]
    assert positives("S3", c) == [(3, 3), (5, 3), (7, 3), (3, 5), (3, 7)]
    # box [3, 3, 7, 7] scaled 2x: [1, 9]^2, inside the image; 68 background pixels, stride 13;
    # (6, 4) lies in the opening
    assert enlarged_box(c) == (1, 1, 9, 9)
    assert negatives(c) == [(1, 1), (5, 2), (6, 4), (2, 6), (3, 8)]


def test_two_components_both_get_points() -> None:
    mask = block((10, 12), (2, 3), (1, 3)) | block((10, 12), (2, 4), (8, 10))  # 6 + 9 px
    # centre of mass (6.2, 2.8) -> pixel (6, 3), between the components; stride 3
    assert positives("S3", mask) == [(1, 2), (8, 2), (1, 3), (8, 3), (8, 4)]
    # box [1, 2, 10, 4]: x spans 9 -> [-3, 14] clipped to [0, 11]; y spans 2 -> [1, 5];
    # 45 background pixels, stride 9
    assert enlarged_box(mask) == (0, 1, 11, 5)
    assert negatives(mask) == [(0, 1), (9, 1), (0, 3), (3, 4), (3, 5)]


def test_51_pixel_object_gives_exactly_five_of_each() -> None:
    mask = block((12, 24), (4, 6), (2, 18))  # 3 x 17 = 51 px
    # stride 10 reaches index 50 too (a sixth point in the official code); five are kept:
    # the centre (10, 5), then indices 10, 20, 30, 40
    assert positives("S3", mask) == [(10, 5), (12, 4), (5, 5), (15, 5), (8, 6)]
    # box [2, 4, 18, 6]: x [-6, 26] -> [0, 23], y [3, 7]; 69 background pixels, stride 13
    assert enlarged_box(mask) == (0, 3, 23, 7)
    assert negatives(mask) == [(0, 3), (13, 3), (19, 4), (1, 6), (7, 7)]
    assert make_prompt("S4", mask).point_labels.tolist() == [1] * 5 + [0] * 5


def test_odd_spans_grow_by_half_a_span_rounded_down() -> None:
    mask = block((10, 10), (3, 4), (3, 6))  # 2 x 4 px; centre (4.5, 3.5) -> pixel (4, 4)
    # box [3, 3, 6, 4] scaled 2x: x [1.5, 7.5] -> pixels 2..7, y [2.5, 4.5] -> rows 3..4;
    # only 4 background pixels, each used once
    assert enlarged_box(mask) == (2, 3, 7, 4)
    assert negatives(mask) == [(2, 3), (7, 3), (2, 4), (7, 4)]
    assert positives("S3", mask) == [(4.5, 3.5), (4, 3), (5, 3), (6, 3), (3, 4)]


@pytest.mark.parametrize(
    ("rows", "cols", "box", "expected"),
    [
        ((0, 2), (4, 6), (3, 0, 7, 3), [(3, 0), (3, 1), (3, 2), (3, 3), (5, 3)]),  # top
        ((5, 7), (4, 6), (3, 4, 7, 7), [(3, 4), (5, 4), (7, 4), (7, 5), (7, 6)]),  # bottom
        ((2, 4), (0, 2), (0, 1, 3, 5), [(0, 1), (2, 1), (3, 2), (3, 4), (1, 5)]),  # left
        ((2, 4), (7, 9), (6, 1, 9, 5), [(6, 1), (8, 1), (6, 2), (6, 4), (7, 5)]),  # right
    ],
)
def test_masks_on_each_border_clip_the_negatives(rows, cols, box, expected) -> None:
    """A 3x3 block on one border of an 8x10 image: the 2x box grows 1 px per side, clipped.

    11 background pixels remain (stride 2). Positives: the 9 pixels with stride 1 give the
    first 5; the centre of mass is the 5th, so that slot takes the first pixel instead."""
    mask = block((8, 10), rows, cols)
    r, c = rows[0], cols[0]
    assert enlarged_box(mask) == box
    assert negatives(mask) == expected
    assert positives("S3", mask) == [(c + 1, r + 1), (c + 1, r), (c + 2, r), (c, r + 1), (c, r)]


def test_one_pixel_wide_vertical_line() -> None:
    line = block((16, 9), (3, 9), (4, 4))  # 7 px in column 4
    # stride 1 gives rows 3..7; the centre (4, 6) is the 4th, which takes row 3 instead
    assert positives("S3", line) == [(4, 6), (4, 4), (4, 5), (4, 3), (4, 7)]
    # x span 0: the 2x box is the column itself; y [0, 12]; background rows 0-2 and 10-12
    assert enlarged_box(line) == (4, 0, 4, 12)
    assert negatives(line) == [(4, 0), (4, 1), (4, 2), (4, 10), (4, 11)]


def test_line_across_the_image_has_no_negatives() -> None:
    line = block((5, 7), (2, 2), (0, 6))  # a full row: its 2x box holds no background
    prompt = make_prompt("S4", line)
    assert prompt.point_labels.tolist() == [1] * 5
    assert positives("S4", line) == [(3, 2), (1, 2), (2, 2), (0, 2), (4, 2)]


def test_fewer_pixels_than_points() -> None:
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = mask[0, 1] = mask[1, 0] = True  # 3 px; centre (1/3, 1/3) -> pixel (0, 0)
    prompt = make_prompt("S4", mask)
    # 3 positives (each pixel once); the 2x box of [0, 0, 1, 1] is itself: 1 background pixel
    assert np.allclose(prompt.points, [[1 / 3, 1 / 3], [1, 0], [0, 1], [1, 1]])
    assert prompt.point_labels.tolist() == [1, 1, 1, 0]


def test_whole_image_mask() -> None:
    mask = np.ones((4, 5), bool)  # stride 4 over 20 px: (0,0) (4,0) (3,1) (2,2) (1,3)
    # the centre (2, 1.5) -> pixel (2, 2), the 4th strided one, which takes (0, 0)
    assert positives("S4", mask) == [(2, 1.5), (4, 0), (3, 1), (0, 0), (1, 3)]
    assert negatives(mask) == []
    assert make_prompt("medsam-box", mask).box.tolist() == [0, 0, 4, 3]


@pytest.mark.parametrize(
    ("strategy", "box"),
    [
        ("medsam-box", [2, 1, 17, 14]),  # MedSAM's default, 5 px
        ("medsam-box-0", [7, 6, 12, 9]),
        ("medsam-box-3", [4, 3, 15, 12]),
        ("medsam-box-10", [0, 0, 19, 19]),  # clipped on every side
    ],
)
def test_medsam_box_margins(strategy: str, box: list[int]) -> None:
    prompt = make_prompt(strategy, block((20, 20), (6, 9), (7, 12)))
    assert prompt.box.tolist() == box and prompt.points is None


@pytest.mark.parametrize(
    "name", ["S7", "medsam-box--1", "medsam-box-", "medsam-box-x", "medsam-box-pad5"]
)
def test_unknown_strategies_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        make_prompt(name, np.ones((3, 3), bool))
    assert kinds_of(name) == frozenset()


def test_an_empty_mask_has_no_prompt() -> None:
    with pytest.raises(ValueError, match="empty mask"):
        make_prompt("S5", np.zeros((3, 3), bool))


def test_prompt_kinds_of_every_strategy() -> None:
    expected = {
        "S2": {"point"},
        "S3": {"point"},
        "S4": {"point"},
        "S5": {"box"},
        "S6": {"box", "point"},
        "medsam-box": {"box"},
        "medsam-box-12": {"box"},
    }
    for strategy, kinds in expected.items():
        assert kinds_of(strategy) == kinds
        assert make_prompt(strategy, np.ones((3, 3), bool)).kinds == kinds


def pixels(points: np.ndarray) -> list[tuple[int, int]]:
    return [(round(x), round(y)) for x, y in points.tolist()]


@given(masks)
@settings(max_examples=300, deadline=None)
def test_s4_points_obey_the_paper(mask: np.ndarray) -> None:
    """Positives on the mask, negatives off it inside the clipped 2x box, none repeated."""
    h, w = mask.shape
    prompt = make_prompt("S4", mask)
    pos = prompt.points[prompt.point_labels == 1]
    neg = prompt.points[prompt.point_labels == 0]
    assert np.array_equal(pos, make_prompt("S3", mask).points)
    assert len(pos) == min(5, mask.sum())
    assert all(mask[y, x] for x, y in pixels(pos) + pixels(make_prompt("S2", mask).points))
    assert len(set(pixels(prompt.points))) == len(prompt.points)
    assert ((prompt.points >= 0) & (prompt.points <= [w - 1, h - 1])).all()

    x0, y0, x1, y1 = tight_box(mask).astype(int)
    yy, xx = np.mgrid[:h, :w]
    in_2x_box = (abs(2 * xx - x0 - x1) <= 2 * (x1 - x0)) & (abs(2 * yy - y0 - y1) <= 2 * (y1 - y0))
    assert len(neg) == min(5, (in_2x_box & ~mask).sum())
    assert np.array_equal(neg, neg.round())
    for x, y in pixels(neg):
        assert in_2x_box[y, x] and not mask[y, x]


@given(masks, st.sampled_from(["S2", "S3", "S4", "S5", "S6", "medsam-box"]))
@settings(max_examples=300, deadline=None)
def test_prompts_are_deterministic_and_dtype_blind(mask: np.ndarray, strategy: str) -> None:
    a, b = make_prompt(strategy, mask), make_prompt(strategy, mask.astype(np.uint8) * 7)
    for field in ("points", "point_labels", "box"):
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None and y is None) or x.tobytes() == y.tobytes()


@given(masks, st.permutations(["S2", "S3", "S4", "S5", "S6", "S6-centre-only-0-3"]))
@settings(max_examples=200, deadline=None)
def test_a_masks_shared_memo_changes_no_prompt(mask: np.ndarray, order: list[str]) -> None:
    """The engine's per-mask memo (S2 and S6's point taken as the first of S3 and S4's five)
    gives every strategy the prompt it gives alone, in whichever order they are asked."""
    memo: dict = {}
    for strategy in order:
        rng = (lambda: np.random.default_rng(7)) if is_jittered(strategy) else (lambda: None)
        alone, shared = (
            make_prompt(strategy, mask, rng()),
            make_prompt(strategy, mask, rng(), memo=memo),
        )
        for field in ("points", "point_labels", "box"):
            x, y = getattr(alone, field), getattr(shared, field)
            assert (x is None and y is None) or x.tobytes() == y.tobytes()


@given(masks, st.integers(0, 30))
@settings(max_examples=200, deadline=None)
def test_boxes(mask: np.ndarray, margin: int) -> None:
    """S5 is tight; S6 is S5's box with S2's point; medsam-box-N is S5 grown, in the image."""
    h, w = mask.shape
    x0, y0, x1, y1 = tight_box(mask).astype(int)
    assert mask[y0 : y1 + 1, x0 : x1 + 1].sum() == mask.sum()
    assert mask[y0].any() and mask[y1].any() and mask[:, x0].any() and mask[:, x1].any()
    s6 = make_prompt("S6", mask)
    assert np.array_equal(s6.box, make_prompt("S5", mask).box)
    assert np.array_equal(s6.points, make_prompt("S2", mask).points)
    grown = make_prompt(f"medsam-box-{margin}", mask).box.tolist()
    assert grown == [
        max(0, x0 - margin),
        max(0, y0 - margin),
        min(w - 1, x1 + margin),
        min(h - 1, y1 + margin),
    ]


# Jittered strategies (the robustness study).

JITTERABLE = [  # every (base, mode) that applies
    (base, mode)
    for base in ("S2", "S3", "S4", "S5", "S6")
    for mode, kind in JITTER_MODES.items()
    if kind in kinds_of(base)
]
ranges = st.tuples(st.integers(0, 30), st.integers(0, 30)).map(sorted)
SCHEMA = Path(__file__).parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def lengths(moved: np.ndarray, base: np.ndarray) -> np.ndarray:
    return np.linalg.norm(moved.astype(np.float64) - base, axis=-1)


def centred(mask: np.ndarray) -> np.ndarray:
    """The mask at (48, 48) of a 128 x 128 image: 30 px jitter is never clipped, not even for
    S4's negatives, which lie up to half the mask's size (12 px) outside it."""
    canvas = np.zeros((128, 128), bool)
    canvas[48 : 48 + mask.shape[0], 48 : 48 + mask.shape[1]] = mask
    return canvas


def test_centre_only_moves_the_first_point_alone() -> None:
    mask = block((64, 64), (20, 40), (10, 30))
    base = make_prompt("S4", mask)
    moved = make_prompt("S4-centre-only-10-10", mask, rng())
    assert moved.strategy == "S4-centre-only-10-10"
    assert np.isclose(lengths(moved.points[0], base.points[0]), 10)
    assert np.array_equal(moved.points[1:], base.points[1:])
    assert np.array_equal(moved.point_labels, base.point_labels)
    ranged = make_prompt("S2-centre-only-10-20", mask, rng(7))
    assert 10 <= lengths(ranged.points[0], base.points[0]) <= 20


def test_all_points_move_every_point_negatives_too() -> None:
    mask = block((64, 64), (20, 40), (10, 30))
    base = make_prompt("S4", mask)
    exact = make_prompt("S4-all-points-5-5", mask, rng())
    assert np.allclose(lengths(exact.points, base.points), 5)
    drawn = lengths(make_prompt("S4-all-points-10-20", mask, rng(3)).points, base.points)
    assert ((drawn >= 10) & (drawn <= 20)).all() and len(set(drawn.tolist())) == 10  # each its own


def test_box_shift_translates_the_box() -> None:
    mask = block((64, 64), (20, 40), (10, 30))  # box [10, 20, 30, 40]
    s6 = make_prompt("S6-box-shift-7-7", mask, rng())
    shift = s6.box - np.array([10, 20, 30, 40])
    assert np.allclose(shift[:2], shift[2:]) and np.isclose(np.hypot(*shift[:2]), 7)
    assert np.array_equal(s6.points, make_prompt("S2", mask).points)  # the point stays


def test_box_shift_off_the_image_flattens_onto_the_border() -> None:
    mask = block((20, 20), (5, 8), (0, 2))  # box [0, 5, 2, 8], on the left border
    boxes = [make_prompt("S5-box-shift-30-30", mask, rng(seed)).box for seed in range(20)]
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 <= x1 <= 19 and 0 <= y0 <= y1 <= 19
    # a 30 px move leaves a 20 px image along x or y: that side collapses onto the border
    assert all(x0 == x1 or y0 == y1 for x0, y0, x1, y1 in boxes)


def test_box_edges_of_equal_lengths_is_medsams_margin() -> None:
    mask = block((20, 20), (6, 9), (7, 12))
    for margin in (0, 3, 5, 10):  # 10 clips on every side
        jittered = make_prompt(f"S5-box-edges-{margin}-{margin}", mask, rng())
        assert np.allclose(jittered.box, make_prompt(f"medsam-box-{margin}", mask).box)


def test_box_edges_move_outward_each_by_its_own_length() -> None:
    mask = block((100, 100), (30, 60), (40, 50))  # box [40, 30, 50, 60]
    box = make_prompt("S5-box-edges-10-20", mask, rng(5)).box
    outward = (box - [40, 30, 50, 60]) * [-1, -1, 1, 1]
    assert ((outward >= 10) & (outward <= 20)).all() and len(set(outward.tolist())) == 4


def test_box_edges_signed_moves_both_ways() -> None:
    mask = block((100, 100), (30, 60), (20, 70))  # box [20, 30, 70, 60]: 40 px never cross
    moves = np.array(
        [
            make_prompt("S5-box-edges-signed-10-20", mask, rng(s)).box - [20, 30, 70, 60]
            for s in range(8)
        ]
    )
    assert ((abs(moves) >= 10) & (abs(moves) <= 20)).all()
    assert (moves > 0).any(axis=0).all() and (moves < 0).any(axis=0).all()


def test_crossed_edges_span_the_box_between_them() -> None:
    mask = block((40, 40), (20, 23), (20, 23))  # box [20, 20, 23, 23]; edges move 5 px
    # x0 -> 15 or 25, x1 -> 18 or 28; x0 at 25 and x1 at 18 have crossed: the box is [18, 25]
    spans = {(15, 18), (15, 28), (25, 28), (18, 25)}
    seen = set()
    for seed in range(32):
        x0, y0, x1, y1 = make_prompt("S5-box-edges-signed-5-5", mask, rng(seed)).box.tolist()
        assert (x0, x1) in spans and (y0, y1) in spans
        seen |= {(x0, x1), (y0, y1)}
    assert seen == spans


def test_a_point_pushed_out_of_the_image_is_clipped_to_its_border() -> None:
    mask = np.zeros((10, 10), bool)
    mask[0, 0] = True  # S2's point (0, 0); 20 px is longer than the image's diagonal
    for seed in range(10):
        ((x, y),) = make_prompt("S2-all-points-20-20", mask, rng(seed)).points
        assert 0 <= x <= 9 and 0 <= y <= 9 and (x in (0, 9) or y in (0, 9))


def test_jittered_strategies_need_a_generator_the_others_ignore_it() -> None:
    mask = block((10, 10), (2, 5), (3, 6))
    with pytest.raises(ValueError, match="is random: pass rng"):
        make_prompt("S2-centre-only-0-10", mask)
    a, b = make_prompt("S4", mask), make_prompt("S4", mask, rng())
    assert a.points.tobytes() == b.points.tobytes()


def test_prompt_seed_is_pinned_and_keyed_on_every_field() -> None:
    key = (0, "kvasir-seg/case_00012/z0143#1", "S2-centre-only-10-20", 0)
    assert prompt_seed(*key) == 5613936304756046137  # a change of the hash changes every repeat
    assert prompt_seed(np.int64(0), key[1], key[2], np.int16(0)) == prompt_seed(*key)
    others = [
        (1, *key[1:]),
        (0, "x", *key[2:]),
        (0, key[1], "S2-centre-only-0-10", 0),
        (*key[:3], 1),
    ]
    seeds = {prompt_seed(*k) for k in [key, *others]}
    assert len(seeds) == 5 and all(0 <= s < 2**64 for s in seeds)


def test_a_jittered_prompt_is_pinned() -> None:
    """The draws of one seed, written down: changing how they are drawn changes every study."""
    mask = block((64, 64), (20, 40), (10, 30))
    strategy = "S3-all-points-10-20"
    prompt = make_prompt(strategy, mask, rng(prompt_seed(0, "demo/a/z0001#1", strategy, 0)))
    expected = [
        [16.8688, 40.9263],
        [24.1020, 32.3767],
        [16.5909, 9.3528],
        [20.7652, 45.8077],
        [36.8743, 46.3959],
    ]
    assert np.allclose(prompt.points, expected, atol=1e-4)


def test_processing_order_does_not_change_a_repeat() -> None:
    mask = block((64, 64), (20, 40), (10, 30))
    keys = [
        (m, s, r)
        for m in ("a", "b")
        for s in ("S2-all-points-0-10", "S5-box-shift-0-10")
        for r in (0, 1)
    ]

    def run(order):
        return {k: make_prompt(k[1], mask, rng(prompt_seed(0, *k))) for k in order}

    forward, backward = run(keys), run(keys[::-1])
    for k in keys:
        for field in ("points", "box"):
            x, y = getattr(forward[k], field), getattr(backward[k], field)
            assert (x is None and y is None) or x.tobytes() == y.tobytes()


@pytest.mark.parametrize(
    ("name", "jitter"),
    [
        ("S2-centre-only-0-10", Jitter("S2", "centre-only", 0, 10)),
        ("S3-all-points-10-20", Jitter("S3", "all-points", 10, 20)),
        ("S4-all-points-20-30", Jitter("S4", "all-points", 20, 30)),
        ("S5-box-shift-20-30", Jitter("S5", "box-shift", 20, 30)),
        ("S6-box-edges-0-10", Jitter("S6", "box-edges", 0, 10)),
        ("S6-box-edges-signed-5-5", Jitter("S6", "box-edges-signed", 5, 5)),
        ("S6-centre-only-0-0", Jitter("S6", "centre-only", 0, 0)),
    ],
)
def test_jittered_names_parse(name: str, jitter: Jitter) -> None:
    assert jitter_of(name) == jitter and is_jittered(name) and base_of(name) == jitter.base
    assert kinds_of(name) == kinds_of(jitter.base)
    assert make_prompt(name, np.ones((3, 3), bool), rng()).kinds == kinds_of(jitter.base)


@pytest.mark.parametrize("name", ["S2", "S6", "medsam-box", "medsam-box-12"])
def test_unperturbed_names_are_their_own_base(name: str) -> None:
    assert jitter_of(name) is None and not is_jittered(name) and base_of(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "S5-centre-only-0-10",
        "S5-all-points-10-20",
        "S2-box-shift-0-10",
        "S3-box-edges-0-10",
        "S4-box-edges-signed-0-1",
    ],
)
def test_a_mode_without_its_prompt_kind_is_unknown(name: str) -> None:
    for call in (
        jitter_of,
        kinds_of,
        base_of,
        lambda n: make_prompt(n, np.ones((3, 3), bool), rng()),
    ):
        with pytest.raises(ValueError, match="unknown strategy .* has none"):
            call(name)


def test_a_range_with_lo_above_hi_is_refused() -> None:
    with pytest.raises(ValueError, match="range 20-10 has lo > hi"):
        make_prompt("S2-centre-only-20-10", np.ones((3, 3), bool), rng())


@pytest.mark.parametrize(
    "name",
    [
        "S2-jitter-20-30",  # no such mode
        "S1-centre-only-0-10",  # S1 has no prompt to move
        "S7-box-shift-0-10",
        "medsam-box-box-shift-0-10",
        "S2-centre-only-10",  # one bound
        "S2-centre-only-05-10",  # not canonical: one range, one name
        "S2-centre-only--1-10",
        "S2-centre-only-0.5-10",
        "S2-center-only-0-10",
        "S5-box-edges-signed-0-10-20",
    ],
)
def test_malformed_jittered_names_are_unknown(name: str) -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        make_prompt(name, np.ones((3, 3), bool), rng())
    assert kinds_of(name) == frozenset() and not is_jittered(name)


def test_the_config_schema_accepts_exactly_the_valid_names() -> None:
    schema = yaml.safe_load(SCHEMA.read_text())
    pattern = schema["properties"]["strategies"]["items"]["pattern"]
    valid = ["S1", "S2", "S6", "medsam-box", "medsam-box-7"] + jitter_strategies(
        ["S2", "S3", "S4", "S5", "S6"], JITTER_MODES, [[0, 10], [10, 20], [20, 30], [0, 0]]
    )
    assert len(valid) == 5 + 4 * (2 * 4 + 3 * 2)
    invalid = [
        "S0",
        "S7",
        "S1-centre-only-0-10",
        "S5-centre-only-0-10",
        "S2-box-edges-0-10",
        "S2-jitter-20-30",
        "S2-all-points-05-10",
    ]
    assert all(re.search(pattern, name) for name in valid)
    assert not any(re.search(pattern, name) for name in invalid)


def test_jitter_strategies_expands_a_study() -> None:
    names = jitter_strategies(
        ["S2", "S5"], ["centre-only", "box-shift"], [[0, 10], [10, 20], [20, 30]]
    )
    assert names == [
        "S2-centre-only-0-10",
        "S2-centre-only-10-20",
        "S2-centre-only-20-30",
        "S5-box-shift-0-10",
        "S5-box-shift-10-20",
        "S5-box-shift-20-30",
    ]
    assert jitter_strategies(["S6"], ["all-points", "box-edges"], [(0, 10)]) == [
        "S6-all-points-0-10",
        "S6-box-edges-0-10",
    ]


@pytest.mark.parametrize(
    ("bases", "modes", "ranges", "error"),
    [
        (["S1"], ["centre-only"], [[0, 10]], "base 'S1' is not one of S2-S6"),
        (["medsam-box"], ["box-shift"], [[0, 10]], "not one of S2-S6"),
        (["S2"], ["jitter"], [[0, 10]], "unknown jitter mode 'jitter'"),
        (["S2"], ["centre-only"], [[0, 10, 20]], r"range \[0, 10, 20\] is not \[lo, hi\]"),
        (["S2"], ["centre-only"], [[-5, 10]], "is not"),
        (["S2"], ["centre-only"], [[0.5, 10]], "is not"),
        (["S2"], ["centre-only"], [[20, 10]], "lo > hi"),
    ],
)
def test_jitter_strategies_refuses_a_bad_study(bases, modes, ranges, error) -> None:
    with pytest.raises(ValueError, match=error):
        jitter_strategies(bases, modes, ranges)


@given(masks, st.sampled_from(JITTERABLE), ranges, st.integers(0, 2**32))
@settings(max_examples=300, deadline=None)
def test_jitter_lengths_lie_in_range(mask, base_mode, lo_hi, seed) -> None:
    """Unclipped, every displacement (or edge move) is lo..hi px; the rest is the base's."""
    mask, (base, mode), (lo, hi) = centred(mask), base_mode, lo_hi
    before = make_prompt(base, mask)
    after = make_prompt(f"{base}-{mode}-{lo}-{hi}", mask, rng(seed))

    def in_range(d: np.ndarray) -> bool:
        return bool(((d >= lo - 1e-3) & (d <= hi + 1e-3)).all())

    kind = JITTER_MODES[mode]
    untouched = ("box",) if kind == "point" else ("points", "point_labels")
    for field in untouched:
        x, y = getattr(before, field), getattr(after, field)
        assert (x is None and y is None) or x.tobytes() == y.tobytes()
    if kind == "point":
        moved = 1 if mode == "centre-only" else len(before.points)
        assert in_range(lengths(after.points[:moved], before.points[:moved]))
        assert np.array_equal(after.points[moved:], before.points[moved:])
        assert np.array_equal(after.point_labels, before.point_labels)
        return
    move = after.box.astype(np.float64) - before.box
    if mode == "box-shift":
        assert np.allclose(move[:2], move[2:], atol=1e-4) and in_range(np.hypot(*move[:2]))
    elif mode == "box-edges":
        assert in_range(move * [-1, -1, 1, 1])
    else:  # signed: the edges as moved, or swapped where they crossed
        swapped = after.box[[2, 3, 0, 1]].astype(np.float64) - before.box
        assert all(
            in_range(abs(move[[i, i + 2]])) or in_range(abs(swapped[[i, i + 2]])) for i in (0, 1)
        )


@given(masks, st.sampled_from(JITTERABLE), ranges, st.integers(0, 2**32))
@settings(max_examples=300, deadline=None)
def test_jittered_prompts_stay_in_the_image(mask, base_mode, lo_hi, seed) -> None:
    (base, mode), (lo, hi), (h, w) = base_mode, lo_hi, mask.shape
    before = make_prompt(base, mask)
    after = make_prompt(f"{base}-{mode}-{lo}-{hi}", mask, rng(seed))
    if after.points is not None:
        assert after.points.shape == before.points.shape and after.points.dtype == np.float32
        assert ((after.points >= 0) & (after.points <= [w - 1, h - 1])).all()
    if after.box is not None:
        x0, y0, x1, y1 = after.box.tolist()
        assert after.box.dtype == np.float32
        assert 0 <= x0 <= x1 <= w - 1 and 0 <= y0 <= y1 <= h - 1


@given(masks, st.sampled_from(JITTERABLE), st.integers(0, 2**32))
@settings(max_examples=200, deadline=None)
def test_a_zero_range_is_the_base_strategy(mask, base_mode, seed) -> None:
    base, mode = base_mode
    a, b = make_prompt(base, mask), make_prompt(f"{base}-{mode}-0-0", mask, rng(seed))
    for field in ("points", "point_labels", "box"):
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None and y is None) or x.tobytes() == y.tobytes()


@given(masks, st.sampled_from(JITTERABLE), ranges.filter(lambda r: r[0] < r[1]), st.integers(0, 99))
@settings(max_examples=200, deadline=None)
def test_a_repeat_is_reproducible_and_repeats_differ(mask, base_mode, lo_hi, seed) -> None:
    """lo < hi: with lo == hi, box-edges has nothing random left (the box grown lo px)."""
    mask, (base, mode), (lo, hi) = centred(mask), base_mode, lo_hi
    strategy = f"{base}-{mode}-{lo}-{hi}"

    def repeat(r: int) -> np.ndarray:
        prompt = make_prompt(strategy, mask, rng(prompt_seed(seed, "d/c/z0001#1", strategy, r)))
        return prompt.box if JITTER_MODES[mode] == "box" else prompt.points

    assert repeat(0).tobytes() == repeat(0).tobytes()
    assert repeat(0).tobytes() != repeat(1).tobytes()


@given(masks)
def test_points_and_box_from_the_crop_equal_the_whole_image_rule(mask: np.ndarray) -> None:
    """The rule applied to the whole image (every pixel listed, moments of the full array)
    gives the same points, bit for bit, as the engine's crop to the tight box."""
    import cv2

    ys, xs = np.nonzero(mask)
    at = np.arange(min(N_POINTS, len(ys))) * max(1, len(ys) // N_POINTS)
    points = np.stack([xs[at], ys[at]], axis=1).astype(np.float32)
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
    if mask[int(round(cy)), int(round(cx))]:
        repeat = np.flatnonzero((points[1:] == (int(round(cx)), int(round(cy)))).all(axis=1))
        if repeat.size:
            points[1 + repeat[0]] = points[0]
        points[0] = (cx, cy)
    np.testing.assert_array_equal(make_prompt("S3", mask).points, points)
    box = [xs.min(), ys.min(), xs.max(), ys.max()]
    np.testing.assert_array_equal(make_prompt("S5", mask).box, np.array(box, np.float32))
