"""GrabCut from a box and/or clicks: a classical, weight-free reference point.

From the box alone it tells how much of a score the box explains; a learned model that cannot
beat it on a target has learned little about that target. With clicks it is an interactive
baseline for the iterative-click study (clicks.py).

Box only: OpenCV's rectangle initialisation (GC_INIT_WITH_RECT), unchanged. With clicks
(GC_INIT_WITH_MASK): the region is the box when one is given, else the bounding box of the
positive clicks grown by a quarter of the image's longest side on each side (clipped), a box
drawn around them, half the image across for one click. Outside the region is definite
background, inside probable foreground, as the rectangle initialisation does. Then each click,
in order, paints a disc of CLICK_RADIUS px (a brush stroke: a hard constraint on one pixel
hardly moves GrabCut's colour models): definite foreground for a positive click, definite
background for a negative one. Without both a foreground and a background pixel there is
nothing to model, and the initial foreground is the answer, as for a box too small or too
large below. No positive click and no box: an empty answer.
"""

from __future__ import annotations

import cv2
import numpy as np

from cosmos_bench.core.prompt import Prompt
from cosmos_bench.models.base import Candidates, PromptableModel, as_rgb

ITERATIONS = 5
CLICK_RADIUS = 3  # px
REGION_MARGIN = 1 / 4  # of the longest image side, around the positive clicks without a box


class GrabCut(PromptableModel):
    accepts = frozenset({"box", "point"})

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def embed(self, image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(as_rgb(image))

    def decode(self, embedding: np.ndarray, prompts: list[Prompt]) -> list[Candidates]:
        """One GrabCut per prompt: its colour models are fitted to that prompt's regions."""
        return [
            self._segment(embedding, p.box) if p.points is None else self._clicks(embedding, p)
            for p in prompts
        ]

    def _segment(self, image: np.ndarray, box: np.ndarray) -> Candidates:
        h, w = image.shape[:2]
        x0, y0, x1, y1 = (int(v) for v in box)
        mask = np.zeros((h, w), np.uint8)
        rect = (x0, y0, max(1, x1 - x0 + 1), max(1, y1 - y0 + 1))
        if rect[2] < 2 or rect[3] < 2 or rect[2] * rect[3] >= h * w:
            mask[y0 : y1 + 1, x0 : x1 + 1] = 1  # GrabCut needs background outside the box
            return Candidates(mask[None].astype(bool), np.array([np.nan]))
        cv2.setRNGSeed(self.seed)  # GrabCut's GMM initialisation draws random numbers
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(image, mask, rect, bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_RECT)
        fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
        return Candidates(fg[None], np.array([np.nan]))

    def _clicks(self, image: np.ndarray, prompt: Prompt) -> Candidates:
        """GrabCut from a mask: the region (box, or around the positive clicks) and clicks."""
        mask = np.full(image.shape[:2], cv2.GC_BGD, np.uint8)
        region = prompt.box if prompt.box is not None else click_region(prompt, image.shape[:2])
        if region is not None:
            x0, y0, x1, y1 = (int(v) for v in region)
            mask[y0 : y1 + 1, x0 : x1 + 1] = cv2.GC_PR_FGD
        for (x, y), label in zip(prompt.points, prompt.point_labels, strict=True):
            value = cv2.GC_FGD if label == 1 else cv2.GC_BGD
            cv2.circle(mask, (int(round(x)), int(round(y))), CLICK_RADIUS, value, -1)
        fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
        if fg.all() or not fg.any():
            return Candidates(fg[None], np.array([np.nan]))
        cv2.setRNGSeed(self.seed)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(image, mask, None, bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_MASK)
        fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
        return Candidates(fg[None], np.array([np.nan]))


def click_region(prompt: Prompt, shape: tuple[int, int]) -> np.ndarray | None:
    """The positive clicks' bounding box grown by REGION_MARGIN; None without positive clicks."""
    positives = prompt.points[prompt.point_labels == 1]
    if len(positives) == 0:
        return None
    h, w = shape
    margin = max(h, w) * REGION_MARGIN
    lo = np.round(positives.min(axis=0) - margin)
    hi = np.round(positives.max(axis=0) + margin)
    return np.clip(np.concatenate([lo, hi]), 0, [w - 1, h - 1, w - 1, h - 1])
