"""The ground truth of one mask, read once for inference, scoring and the report: the rule
that says which copy of a mask prompts are taken from and predictions are measured against.

Under `native` resolution (score.resolution) a mask of an image the longest-side cap shrank is
read at the source's size; one-shot prompts are taken there and mapped onto the stored copy, as
the authors' code maps native prompts into SAM's frame, and scoring measures there. Torch-free:
the report's gallery rebuilds the same prompts without loading the model stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from cosmos_bench.contracts import at_native_size
from cosmos_bench.core.prompt import Prompt, tight_box
from cosmos_bench.core.strategies import make_prompt

if TYPE_CHECKING:  # only named: the per-image engine runs where no HDF5 plug-in is installed
    from cosmos_bench.store.shards import ShardReader


@dataclass(frozen=True)
class Truth:
    """One ground-truth mask of an image: at the stored size, and where prompts are taken
    (the source's size under native resolution, else the same array)."""

    mask_id: str
    target: str
    mask: np.ndarray
    source: np.ndarray
    memo: dict = field(default_factory=dict, compare=False, repr=False)  # make_prompt's

    @property
    def shrunk_away(self) -> bool:
        return not self.mask.any()

    @cached_property
    def box(self) -> np.ndarray:
        """The source mask's tight box, found once for every strategy and selection."""
        return tight_box(self.source)

    @cached_property
    def area(self) -> int:
        """The source mask's pixel count, counted once."""
        return int(np.count_nonzero(self.source))

    def prompt(
        self,
        strategy: str,
        rng: np.random.Generator | None,
        points: str = "paper",
        phrase: str | None = None,
    ) -> Prompt:
        """The strategy's prompt from the source mask, in the stored copy's coordinates
        (`points`: the point rule, infer.points; `phrase`: the text strategies' object name)."""
        prompt = make_prompt(
            strategy, self.source, rng, points, phrase, box=self.box, memo=self.memo
        )
        if self.source.shape == self.mask.shape:
            return prompt
        (h, w), (oh, ow) = self.mask.shape, self.source.shape
        return prompt.scaled(h / oh, w / ow)


def reference_mask(
    reader: ShardReader, row: int, layer: int, label: int, scale: float, resolution: str
) -> np.ndarray:
    """The copy of a mask that prompts are taken from and predictions are scored against: the
    source's size when `resolution` says so and the image was shrunk, else the stored one."""
    if at_native_size(resolution, scale):
        return reader.native_mask(row, layer, label)
    return reader.mask(row, layer, label)


def truth_of(reader: ShardReader, row: int, mask: object, resolution: str) -> Truth:
    """Index row `mask` (mask_id, target, layer, label, scale) of the image at shard `row`."""
    layer, label = int(mask.layer), int(mask.label)
    stored = reader.mask(row, layer, label)
    source = reference_mask(reader, row, layer, label, mask.scale, resolution)
    return Truth(str(mask.mask_id), str(getattr(mask, "target", "")), stored, source)
