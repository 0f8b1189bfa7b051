"""The interface every model adapter implements: encode an image once, decode many prompts.

The image encoder is nearly all of the cost, so inference calls `embed` once per image and
`decode` once with every prompt of every strategy for that image.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from cosmos_bench.prompts import Prompt


@dataclass
class Candidates:
    """A model's answer to one prompt: C binary masks at image size and their scores."""

    masks: np.ndarray  # (C, H, W) bool
    scores: np.ndarray  # (C,) float; NaN where the model has no score


class PromptableModel(ABC):
    """A promptable segmenter with its weights loaded and its own input convention."""

    #: prompt kinds the model can take ({"box"}, {"box", "point"}, ...)
    accepts: frozenset[str] = frozenset()

    @abstractmethod
    def embed(self, image: np.ndarray) -> Any:
        """Encode one uint8 image (H, W) or (H, W, 3); the result is opaque to callers."""

    @abstractmethod
    def decode(self, embedding: Any, prompts: list[Prompt]) -> list[Candidates]:
        """Decode every prompt against one embedding, in the order given."""


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Grey images are repeated to three channels, as SAM-family models expect."""
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
