"""A ground-truth mask as inference sees it, and the prompt each strategy takes from it.

Torch-free on purpose: the report's gallery and shape jobs rebuild the same prompts and read the
same masks without loading the model stack.

Under `native` resolution (score.resolution) a mask of an image the longest-side cap shrank is
read at the source's size too; one-shot prompts are taken there and mapped onto the stored
copy, as the authors' code maps native prompts into SAM's frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosmos_bench.contracts import at_native_size
from cosmos_bench.harmonize.shards import ShardReader
from cosmos_bench.infer.strategies import Prompt, is_jittered, make_prompt, prompt_seed


@dataclass(frozen=True)
class Truth:
    """One ground-truth mask of an image: at the stored size, and where prompts are taken
    (the source's size under native resolution, else the same array)."""

    mask_id: str
    target: str
    mask: np.ndarray
    source: np.ndarray

    @property
    def shrunk_away(self) -> bool:
        return not self.mask.any()

    def prompt(
        self,
        strategy: str,
        rng: np.random.Generator | None,
        points: str = "paper",
        phrase: str | None = None,
    ) -> Prompt:
        """The strategy's prompt from the source mask, in the stored copy's coordinates
        (`points`: the point rule, infer.points; `phrase`: the text strategies' object name)."""
        prompt = make_prompt(strategy, self.source, rng, points, phrase)
        if self.source.shape == self.mask.shape:
            return prompt
        (h, w), (oh, ow) = self.mask.shape, self.source.shape
        return prompt.scaled(h / oh, w / ow)


def truth_of(reader: ShardReader, row: int, mask: object, resolution: str) -> Truth:
    """Index row `mask` (mask_id, target, layer, label, scale) of the image at shard `row`."""
    stored = reader.mask(row, int(mask.layer), int(mask.label))
    target = str(getattr(mask, "target", ""))
    if not at_native_size(resolution, mask.scale):
        return Truth(str(mask.mask_id), target, stored, stored)
    source = reader.native_mask(row, int(mask.layer), int(mask.label))
    return Truth(str(mask.mask_id), target, stored, source)


def jitter_rng(seed: int, mask_id: str, strategy: str, repeat: int) -> np.random.Generator | None:
    """A jittered strategy's generator, seeded from (seed, mask, strategy, repeat) alone, so no
    processing order changes a prompt; None for a deterministic strategy."""
    if not is_jittered(strategy):
        return None
    return np.random.default_rng(prompt_seed(seed, mask_id, strategy, repeat))
