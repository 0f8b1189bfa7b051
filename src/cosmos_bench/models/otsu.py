"""Otsu inside the box: the simplest weight-free answer to a box prompt.

Threshold the box's pixels with Otsu, call foreground the class that holds most of the box's
central half (an object fills its tight box's centre), and keep the connected component that
covers the most of that centre. It needs no colour, so it works on grey CT and MR where GrabCut's
colour models degenerate.
"""

from __future__ import annotations

import cv2
import numpy as np

from cosmos_bench.core.prompt import Prompt
from cosmos_bench.models.base import Candidates, PromptableModel


class OtsuBox(PromptableModel):
    accepts = frozenset({"box"})

    def embed(self, image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image

    def decode(self, embedding: np.ndarray, prompts: list[Prompt]) -> list[Candidates]:
        return [self._segment(embedding, p.box) for p in prompts]

    def _segment(self, grey: np.ndarray, box: np.ndarray) -> Candidates:
        x0, y0, x1, y1 = (int(v) for v in box)
        crop = np.ascontiguousarray(grey[y0 : y1 + 1, x0 : x1 + 1])
        _, bright = cv2.threshold(crop, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        h, w = crop.shape
        centre = np.zeros_like(bright, dtype=bool)
        centre[h // 4 : h - h // 4 or h, w // 4 : w - w // 4 or w] = True
        fg = bright if bright[centre].mean() >= 0.5 else 1 - bright
        n, components = cv2.connectedComponents(fg.astype(np.uint8), connectivity=8)
        if n > 1:
            overlap = np.bincount(components[centre], minlength=n)
            overlap[0] = 0
            fg = components == overlap.argmax()
        mask = np.zeros(grey.shape, dtype=bool)
        mask[y0 : y1 + 1, x0 : x1 + 1] = fg.astype(bool)
        return Candidates(mask[None], np.array([np.nan]))
