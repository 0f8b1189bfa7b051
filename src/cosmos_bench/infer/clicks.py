"""Iterative clicks: the interactive protocol that decides "points versus interactive methods".

Why each choice was made, and where the paper, its code and MedSAM differ:
docs/protocols.md ("The click rule, choice by choice").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from cosmos_bench.core import rle
from cosmos_bench.infer.strategies import Prompt, make_prompt
from cosmos_bench.models.base import Candidates, PromptableModel
from cosmos_bench.score.metrics import dice

STARTS = ("S2", "S5")
N_CLICKS = 20
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
) -> list[ClickSession]:
    """Run the click protocol on every ground-truth mask of one image, one decode per round."""
    if start not in STARTS:
        raise ValueError(f"unknown click start {start!r}; known: {STARTS}")
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
                active = [i for i in active if _click(sessions[i], gts[i], preds[i])]
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


def _click(session: ClickSession, gt: np.ndarray, pred: np.ndarray) -> bool:
    """Add the next click to a session; False when there is nothing left to click."""
    click = next_click(gt, pred, session.clicked)
    if click is None:
        return False
    session.add(float(click[0]), float(click[1]), click[2])
    return True
