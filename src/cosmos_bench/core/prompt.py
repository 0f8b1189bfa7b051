"""A prompt as every model takes it: points, a box, a mask and/or a phrase, in the image's
pixels, and the tight box of a mask (the box every strategy and measure shares). The ground
floor's vocabulary: models/ and the stages share it, and the public API exports `Prompt` as
`cosmos_bench.Prompt` (the own-model contract); the strategies that build prompts from
ground-truth masks are core.strategies."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cosmos_bench.core.extent import bounds


def tight_box(mask: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of a non-empty mask's pixels, inclusive: S5's box, and the box scoring
    measures a prediction's leak against (score.shape). Found from the rows and columns that
    hold a pixel (core.extent), without listing the pixels."""
    found = bounds(mask)
    if found is None:
        raise ValueError("an empty mask has no box")
    y0, y1, x0, x1 = found
    return np.array([x0, y0, x1, y1], dtype=np.float32)


@dataclass(frozen=True)
class Prompt:
    """Points (N, 2) with labels (N,) 1 = positive, 0 = negative, and/or a box (4,), and/or a
    mask: the low-resolution logits a model returned before (`Candidates.low_res`), fed back
    as its mask prompt in iterative clicking."""

    strategy: str
    points: np.ndarray | None = None
    point_labels: np.ndarray | None = None
    box: np.ndarray | None = None
    mask: np.ndarray | None = None
    text: str | None = None  # a short phrase naming the object (the text strategies, infer.text)

    @property
    def kinds(self) -> frozenset[str]:
        given = (("point", self.points), ("box", self.box), ("mask", self.mask),
                 ("text", self.text))  # fmt: skip
        return frozenset(kind for kind, v in given if v is not None)

    def scaled(self, sy: float, sx: float) -> Prompt:
        """The prompt in an image resized by (sy, sx): a prompt taken on the source's mask,
        handed to the model with the stored copy (coordinates multiplied, as SAM's
        ResizeLongestSide maps them)."""
        factor = np.array([sx, sy], np.float32)
        points = None if self.points is None else self.points * factor
        box = None if self.box is None else self.box * np.tile(factor, 2)
        return replace(self, points=points, box=box)
