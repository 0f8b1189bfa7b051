"""Random walker from clicks (Grady 2006, scikit-image): a weight-free interactive baseline.

Why each choice was made, and where the paper, its code and MedSAM differ:
docs/protocols.md ("The random-walker baseline").
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage
from skimage.segmentation import random_walker

from cosmos_bench.core.prompt import Prompt
from cosmos_bench.models.base import Candidates, PromptableModel
from cosmos_bench.models.grabcut import click_region

BETA = 130.0  # scikit-image's default edge penalty
# the exact sparse solve: on textured 256x256 and 512x512 images it took 0.5 s and 2.8 s where
# conjugate gradients (cg_j) took 3.4 s and 31 s and, at their default tolerance, moved pixels
MODE = "bf"
CLICK_RADIUS = 3  # px: a click seeds a disc, as a brush does; a lone pixel seeds almost nothing
UNKNOWN, OBJECT, BACKGROUND = 0, 1, 2


class RandomWalker(PromptableModel):
    accepts = frozenset({"box", "point"})

    def embed(self, image: np.ndarray) -> np.ndarray:
        """The image itself, as float in [0, 1]: there is no encoder."""
        return image.astype(np.float64) / 255.0

    def decode(self, embedding: np.ndarray, prompts: list[Prompt]) -> list[Candidates]:
        """One walk per prompt: each prompt's seeds make a different linear system."""
        return [self._segment(embedding, p) for p in prompts]

    def _segment(self, image: np.ndarray, prompt: Prompt) -> Candidates:
        seeds, window = seed_map(image.shape[:2], prompt)
        mask = np.zeros(image.shape[:2], bool)
        mask[window] = walk(image[window], seeds[window])
        return Candidates(mask[None], np.array([np.nan]))


def seed_map(shape: tuple[int, int], prompt: Prompt) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The seed labels of a prompt and the window the walk runs on (the region and a ring)."""
    h, w = shape
    seeds = np.full(shape, BACKGROUND, np.uint8)
    region = prompt.box if prompt.box is not None else click_region(prompt, shape)
    if region is None:  # no box and no positive click: nothing is object
        return seeds, (slice(0, h), slice(0, w))
    x0, y0, x1, y1 = (int(v) for v in np.clip(region, 0, [w - 1, h - 1] * 2))
    inside = (slice(y0, y1 + 1), slice(x0, x1 + 1))
    seeds[inside] = UNKNOWN
    if (seeds == UNKNOWN).all():
        seeds[[0, -1], :] = BACKGROUND
        seeds[:, [0, -1]] = BACKGROUND
    if prompt.box is not None:
        cv2.circle(seeds, ((x0 + x1) // 2, (y0 + y1) // 2), CLICK_RADIUS, OBJECT, -1)
    if prompt.points is not None:
        for (x, y), label in zip(prompt.points, prompt.point_labels, strict=True):
            value = OBJECT if label == 1 else BACKGROUND
            cv2.circle(seeds, (int(round(x)), int(round(y))), CLICK_RADIUS, value, -1)
    outside = np.ones(shape, bool)
    outside[inside] = False
    seeds[outside] = BACKGROUND
    return seeds, (slice(max(0, y0 - 1), y1 + 2), slice(max(0, x0 - 1), x1 + 2))


def walk(data: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The object pixels of a random walk on `data` (grey or RGB) from `seeds`."""
    has_object, has_background = (seeds == OBJECT).any(), (seeds == BACKGROUND).any()
    if not (seeds == UNKNOWN).any():
        return seeds == OBJECT
    if not (has_object and has_background):
        return np.full(seeds.shape, has_object)
    if data.std() == 0:
        nearest = ndimage.distance_transform_edt(seeds == UNKNOWN, return_indices=True)[1]
        return seeds[nearest[0], nearest[1]] == OBJECT
    channels = -1 if data.ndim == 3 else None
    labels = random_walker(data, seeds, beta=BETA, mode=MODE, channel_axis=channels)
    return labels == OBJECT
