"""Two models of your own, evaluated by cosmos-bench from outside its repository.

`ChanVeseBox` takes a box: scikit-image's morphological Chan-Vese active contour, started from
the box's inner half, run on the box's crop. `FloodPoint` takes points: scikit-image's flood
fill from each positive click (pixels within `tolerance` grey levels of the clicked one and
connected to it), minus the floods of the negative clicks. Neither has weights; both implement
cosmos-bench's model contract version 1 with nothing but its public names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.color import rgb2gray
from skimage.segmentation import flood, morphological_chan_vese

import cosmos_bench as cb


def _grey(image: np.ndarray) -> np.ndarray:
    """The image as grey floats in 0..255, whatever its channels."""
    if image.ndim == 3:
        return rgb2gray(image) * 255.0
    return image.astype(np.float64)


class ChanVeseBox(cb.PromptableModel):
    """Box prompts: a Chan-Vese contour inside the box."""

    contract = 1
    accepts = frozenset({"box"})

    def __init__(self, weights: Path | None = None, device=None, seed: int = 0,
                 iterations: int = 30) -> None:  # fmt: skip
        self.iterations = iterations

    def embed(self, image: np.ndarray) -> np.ndarray:
        return _grey(image)

    def decode(self, embedding: np.ndarray, prompts: list[cb.Prompt]) -> list[cb.Candidates]:
        return [self._segment(embedding, prompt.box) for prompt in prompts]

    def _segment(self, grey: np.ndarray, box: np.ndarray) -> cb.Candidates:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        crop = grey[y0 : y1 + 1, x0 : x1 + 1]
        start = np.zeros(crop.shape, np.int8)
        h, w = crop.shape
        start[h // 4 : h - h // 4 or h, w // 4 : w - w // 4 or w] = 1
        inside = morphological_chan_vese(crop, self.iterations, init_level_set=start)
        mask = np.zeros(grey.shape, bool)
        mask[y0 : y1 + 1, x0 : x1 + 1] = inside.astype(bool)
        return cb.Candidates(mask[None], np.array([np.nan]))


class FloodPoint(cb.PromptableModel):
    """Point prompts: flood fills from the clicks, positives added, negatives removed."""

    contract = 1
    accepts = frozenset({"point"})

    def __init__(self, weights: Path | None = None, device=None, seed: int = 0,
                 tolerance: float = 20.0) -> None:  # fmt: skip
        self.tolerance = tolerance

    def embed(self, image: np.ndarray) -> np.ndarray:
        return _grey(image)

    def decode(self, embedding: np.ndarray, prompts: list[cb.Prompt]) -> list[cb.Candidates]:
        return [self._segment(embedding, prompt) for prompt in prompts]

    def _segment(self, grey: np.ndarray, prompt: cb.Prompt) -> cb.Candidates:
        h, w = grey.shape
        mask = np.zeros((h, w), bool)
        for sign in (1, 0):  # positives first, then negatives take their floods away
            for (x, y), label in zip(prompt.points, prompt.point_labels, strict=True):
                if label != sign:
                    continue
                seed = (min(max(int(round(y)), 0), h - 1), min(max(int(round(x)), 0), w - 1))
                filled = flood(grey, seed, tolerance=self.tolerance)
                mask = mask | filled if sign else mask & ~filled
        return cb.Candidates(mask[None], np.array([np.nan]))
