"""A weight-free stand-in for a text-promptable model: what the text strategies need from one
(several instances or none per phrase), with no network to download.

It cannot read: every phrase gets the same answer, the connected components of Otsu's
foreground (the class that covers less of the image), largest first, each scored by its share
of the region; with a box (`text-box`) only the box is thresholded. A box without a phrase (S5)
gets one answer, the largest component, as every box prompt gets one count of candidates.
Components smaller than MIN_SHARE of the region are dropped, so a flat image answers with no
instance at all. Its
scores are what a real model's would be to the text strategies' matching (infer.text), which
is all the demo shows with it.
"""

from __future__ import annotations

import cv2
import numpy as np

from cosmos_bench.core.prompt import Prompt
from cosmos_bench.models.base import Candidates, PromptableModel

MAX_INSTANCES = 8
MIN_SHARE = 0.002  # of the thresholded region's pixels


class OtsuText(PromptableModel):
    accepts = frozenset({"text", "box"})

    def embed(self, image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image

    def decode(self, embedding: np.ndarray, prompts: list[Prompt]) -> list[Candidates]:
        return [self._instances(embedding, p.box) if p.text is not None
                else self._largest(embedding, p.box) for p in prompts]  # fmt: skip

    def _largest(self, grey: np.ndarray, box: np.ndarray) -> Candidates:
        """A box without a phrase (S5): one answer, as every box prompt gets, the largest
        component (or an empty mask)."""
        found = self._instances(grey, box)
        if len(found.scores):
            return Candidates(found.masks[:1], found.scores[:1])
        return Candidates(np.zeros((1, *grey.shape), bool), np.array([np.nan]))

    def _instances(self, grey: np.ndarray, box: np.ndarray | None) -> Candidates:
        h, w = grey.shape
        x0, y0, x1, y1 = (0, 0, w - 1, h - 1) if box is None else (int(v) for v in box)
        region = np.ascontiguousarray(grey[y0 : y1 + 1, x0 : x1 + 1])
        _, bright = cv2.threshold(region, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        fg = bright if bright.mean() <= 0.5 else 1 - bright
        n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = [1 + int(i) for i in np.argsort(-areas, kind="stable")
                if areas[i] >= MIN_SHARE * region.size][:MAX_INSTANCES]  # fmt: skip
        masks = np.zeros((len(keep), h, w), bool)
        for k, label in enumerate(keep):
            masks[k, y0 : y1 + 1, x0 : x1 + 1] = labels == label
        scores = np.array([stats[label, cv2.CC_STAT_AREA] / region.size for label in keep])
        return Candidates(masks, scores.astype(np.float64))
