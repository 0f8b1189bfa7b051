"""Iterative clicks: the interactive protocol that decides "points versus interactive methods".

Three next-click rules, by name (`clicks.rule`; docs/protocols.md, "The click rule, choice by
choice"): `ritm`, the evaluation clicker of RITM that FocalClick, SimpleClick and ClickSEG report
with (the default); `cvpr25`, the CVPR 2025 interactive 3D challenge's (its own study, `CVPR25`:
S5's box, then five clicks); `largest-region`, this project's first rule, kept because it alone
never clicks a pixel twice and never merges a miss with a false positive.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from cosmos_bench.core import rle
from cosmos_bench.core.strategies import CVPR25, Prompt, make_prompt
from cosmos_bench.score.metrics import dice

if TYPE_CHECKING:  # the report reads `noc` without loading torch
    from cosmos_bench.models.base import Candidates, PromptableModel

STARTS = ("S2", "S5")
N_CLICKS = 20
#: the CVPR 2025 protocol's steps: S5's box, then five clicks by its rule
CVPR25_STEPS = 6
EIGHT_CONNECTED = np.ones((3, 3), bool)
Click = tuple[int, int, int]  # (x, y, label)


def next_click(
    gt: np.ndarray, pred: np.ndarray, clicked: Sequence[tuple[int, int]] = ()
) -> Click | None:
    """The next corrective click (x, y, label) for a prediction, or None when nothing is left.

    `clicked` holds the (x, y) pixels clicked before; none of them is clicked again."""
    gt, pred = gt.astype(bool), pred.astype(bool)
    taken = {(int(x), int(y)) for x, y in clicked}
    for region, offset, label in _regions_largest_first(gt, pred):
        pixel = _farthest_unclicked(region, offset, taken)
        if pixel is not None:
            return pixel[0], pixel[1], label
    return None


def ritm_click(
    gt: np.ndarray, pred: np.ndarray, clicked: Sequence[tuple[int, int]] = ()
) -> Click | None:
    """RITM's evaluation clicker (SamsungLabs/ritm_interactive_segmentation,
    `isegm/inference/clicker.py`, `_get_next_click`): the false-negative and false-positive
    masks, each padded by one pixel and distance-transformed (exact L2), clicked pixels set to
    0; positive when the false negatives' maximum exceeds the false positives' (a tie is
    negative), at the first pixel in row-major order holding that maximum.

    RITM takes the transform from OpenCV (DIST_MASK_PRECISE), whose float32 values of equal
    distances differ in the last bit with more than one OpenCV thread, which moves the click
    between tied pixels from machine to machine; scipy's exact transform gives the values
    OpenCV gives on one thread, on every machine (tests/test_click_rules.py)."""
    gt, pred = gt.astype(bool), pred.astype(bool)
    maps = []
    for error in (gt & ~pred, pred & ~gt):
        distance = ndimage.distance_transform_edt(np.pad(error, 1))[1:-1, 1:-1]
        for x, y in clicked:
            if 0 <= y < distance.shape[0] and 0 <= x < distance.shape[1]:
                distance[y, x] = 0.0
        maps.append(distance)
    fn_max, fp_max = float(maps[0].max()), float(maps[1].max())
    if max(fn_max, fp_max) == 0.0:
        return None
    positive = fn_max > fp_max
    distance = maps[0] if positive else maps[1]
    y, x = divmod(int(np.argmax(distance)), distance.shape[1])
    return x, y, int(positive)


def cvpr25_click(
    gt: np.ndarray, pred: np.ndarray, clicked: Sequence[tuple[int, int]] = ()
) -> Click | None:
    """The CVPR 2025 challenge's click (JunMa11/CVPR-MedSegFMCompetition, `CVPR25_iter_eval.py`):
    the largest connected component of the error (prediction != truth, misses and false
    positives together; 26-connected in 3D, 8 in a slice; equal sizes go to the component met
    first), at its distance-transform maximum (distance to the nearest pixel outside it, the
    image border outside too), ties drawn uniformly by numpy's generator seeded 42 anew for
    every click; positive where the truth is foreground. Earlier clicks are not excluded."""
    found = cvpr25_voxel(gt, pred)
    if found is None:
        return None
    (y, x), label = found
    return x, y, label


def cvpr25_voxel(gt: np.ndarray, pred: np.ndarray) -> tuple[tuple[int, ...], int] | None:
    """The CVPR 2025 click in any dimension: (array index, label), e.g. ((z, y, x), 1) in a
    volume; fully connected components (8 in 2D, 26 in 3D), ties drawn with seed 42."""
    gt, pred = gt.astype(bool), pred.astype(bool)
    error = gt != pred
    if not error.any():
        return None
    full = ndimage.generate_binary_structure(error.ndim, error.ndim)
    components, _ = ndimage.label(error, full)
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    largest = components == int(np.argmax(sizes))
    inner = (slice(1, -1),) * error.ndim
    distance = ndimage.distance_transform_edt(np.pad(largest, 1))[inner]
    ties = np.argwhere(distance == distance.max())
    at = tuple(int(v) for v in ties[np.random.RandomState(42).choice(len(ties))])
    return at, int(gt[at])


#: the next-click rules by name (clicks.rule)
CLICK_RULES = {"ritm": ritm_click, "cvpr25": cvpr25_click, "largest-region": next_click}


def session_plan(strategy: str, rule: str, n_clicks: int) -> tuple[str, str, int]:
    """(start, rule, steps) of an iterative strategy: `clicks-S2`/`clicks-S5` with the run's
    rule and length, or the CVPR 2025 protocol with its own."""
    if strategy == CVPR25:
        return "S5", "cvpr25", CVPR25_STEPS
    return strategy.removeprefix("clicks-"), rule, n_clicks


def _regions_largest_first(
    gt: np.ndarray, pred: np.ndarray
) -> Iterator[tuple[np.ndarray, tuple[int, int], int]]:
    """Error components as (cropped mask, (y0, x0) of the crop, click label), largest first."""
    regions = []
    for error, label in ((gt & ~pred, 1), (pred & ~gt, 0)):
        components, _ = ndimage.label(error, EIGHT_CONNECTED)
        at = np.flatnonzero(components)
        indices, first, areas = np.unique(
            components.flat[at], return_index=True, return_counts=True
        )
        windows = ndimage.find_objects(components)
        for index, start, area in zip(indices, at[first], areas, strict=True):
            regions.append(
                (-int(area), int(start), components, int(index), windows[index - 1], label)
            )
    regions.sort(key=lambda r: r[:2])
    for _, _, components, index, window, label in regions:
        yield components[window] == index, (window[0].start, window[1].start), label


def _farthest_unclicked(
    region: np.ndarray, offset: tuple[int, int], taken: set[tuple[int, int]]
) -> tuple[int, int] | None:
    """(x, y) of the region's unclicked pixel farthest from its boundary (image border too)."""
    # the crop is the region's bounding box: a one-pixel ring of outside pixels around it is
    # both the rest of the image and, where the box touches it, the image border
    distance = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    y0, x0 = offset
    h, w = region.shape
    for x, y in taken:
        if y0 <= y < y0 + h and x0 <= x < x0 + w:
            distance[y - y0, x - x0] = 0.0
    best = int(np.argmax(distance))  # the first maximum in row-major order
    if distance.flat[best] == 0.0:
        return None
    y, x = divmod(best, w)
    return x + x0, y + y0


def noc(values: Sequence[float], threshold: float, max_clicks: int = N_CLICKS) -> int:
    """Clicks until the overlap (IoU in RITM's NoC, or Dice) >= threshold (0.85 for NoC@85);
    `max_clicks` when never reached."""
    for k, value in enumerate(values[:max_clicks], start=1):
        if value >= threshold:
            return k
    return max_clicks


@dataclass
class ClickSession:
    """One mask's session: the prompt as it grew, and the mask and Dice after each click."""

    start: str
    box: np.ndarray | None  # S5's box, part of every round's prompt; None for S2
    points: list[tuple[float, float]] = field(default_factory=list)  # (x, y), in click order
    labels: list[int] = field(default_factory=list)  # 1 positive, 0 negative
    dices: list[float] = field(default_factory=list)  # after click 1..n
    rles: list[np.ndarray] = field(default_factory=list)  # the mask after click 1..n (COCO RLE)
    scores: list[float] = field(default_factory=list)  # the model's score of that mask
    decoded: int = 0  # rounds the mask was decoded in; later Dice values are carried

    @classmethod
    def begin(cls, start: str, gt: np.ndarray) -> ClickSession:
        prompt = make_prompt(start, gt)
        session = cls(start, prompt.box)
        if prompt.points is not None:
            for (x, y), label in zip(prompt.points, prompt.point_labels, strict=True):
                session.add(float(x), float(y), int(label))
        return session

    def add(self, x: float, y: float, label: int) -> None:
        self.points.append((x, y))
        self.labels.append(label)

    @property
    def clicked(self) -> list[tuple[int, int]]:
        """The pixels of the points given so far (S2's centre of mass rounded, as strategies.py)."""
        return [(int(round(x)), int(round(y))) for x, y in self.points]

    def prompt(self, logits: np.ndarray | None) -> Prompt:
        points = labels = None
        if self.points:
            points = np.array(self.points, np.float32)
            labels = np.array(self.labels, np.int64)
        return Prompt(
            f"clicks-{self.start}", points=points, point_labels=labels, box=self.box, mask=logits
        )


def best_candidate(answer: Candidates) -> int:
    """The candidate with the best model score; the first when there is no score."""
    scores = np.asarray(answer.scores, np.float64)
    return 0 if np.isnan(scores).all() else int(np.nanargmax(scores))


def click_sessions(
    model: PromptableModel,
    embedding: object,
    gts: Sequence[np.ndarray],
    start: str,
    n_clicks: int = N_CLICKS,
    feed_logits: bool = True,
    rule: str = "ritm",
) -> list[ClickSession]:
    """Run the click protocol on every ground-truth mask of one image, one decode per round;
    each next click by `rule` (CLICK_RULES)."""
    if start not in STARTS:
        raise ValueError(f"unknown click start {start!r}; known: {STARTS}")
    if rule not in CLICK_RULES:
        raise ValueError(f"unknown click rule {rule!r}; known: {sorted(CLICK_RULES)}")
    needs = {"point", "box"} if start == "S5" else {"point"}
    if not needs <= model.accepts:
        name = type(model).__name__
        raise ValueError(
            f"{name} takes {sorted(model.accepts)}; {start} clicks need {sorted(needs)}"
        )
    feed = feed_logits and "mask" in model.accepts
    gts = [np.asarray(gt, bool) for gt in gts]
    sessions = [ClickSession.begin(start, gt) for gt in gts]
    preds: list[np.ndarray] = [np.zeros_like(gt) for gt in gts]
    logits: list[np.ndarray | None] = [None] * len(gts)
    active = list(range(len(gts)))
    switch = hasattr(model, "multimask")
    saved = getattr(model, "multimask", None)
    try:
        for k in range(1, n_clicks + 1):
            if k > 1:
                active = [i for i in active if _click(sessions[i], gts[i], preds[i], rule)]
                if switch:
                    model.multimask = False
            if not active:
                break
            prompts = [sessions[i].prompt(logits[i] if feed else None) for i in active]
            for i, answer in zip(active, model.decode(embedding, prompts), strict=True):
                c = best_candidate(answer)
                preds[i] = answer.masks[c]
                logits[i] = None if answer.low_res is None else answer.low_res[c]
                sessions[i].dices.append(float(dice(preds[i], gts[i])))
                sessions[i].rles.append(rle.encode(preds[i]))
                sessions[i].scores.append(float(answer.scores[c]))
                sessions[i].decoded += 1
    finally:
        if switch:
            model.multimask = saved
    for session in sessions:
        missing = n_clicks - len(session.dices)
        session.dices += session.dices[-1:] * missing
        session.rles += session.rles[-1:] * missing
        session.scores += session.scores[-1:] * missing
    return sessions


def _click(session: ClickSession, gt: np.ndarray, pred: np.ndarray, rule: str) -> bool:
    """Add the next click to a session; False when there is nothing left to click."""
    click = CLICK_RULES[rule](gt, pred, session.clicked)
    if click is None:
        return False
    session.add(float(click[0]), float(click[1]), click[2])
    return True
