"""GrabCut initialised from the box: a classical, weight-free reference point.

It tells how much of a score the box alone explains; a learned model that cannot beat it on a
target has learned little about that target.
"""

from __future__ import annotations

import cv2
import numpy as np

from cosmos_bench.models.base import Candidates, PromptableModel, as_rgb
from cosmos_bench.prompts import Prompt

ITERATIONS = 5


class GrabCut(PromptableModel):
    accepts = frozenset({"box"})

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def embed(self, image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(as_rgb(image))

    def decode(self, embedding: np.ndarray, prompts: list[Prompt]) -> list[Candidates]:
        return [self._segment(embedding, p.box) for p in prompts]

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
