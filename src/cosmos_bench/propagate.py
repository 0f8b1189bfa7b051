"""3D from a 2D promptable model: LiteMedSAM's CVPR24 box-chain protocol (`box-chain`).

One object of one volume is segmented slice by slice over its z-extent (the first to the last
slice the ground truth touches). The middle slice of that extent is segmented from its tight
box; from there the chain runs forward and backward, each next slice prompted with the
previous slice's predicted bounding box grown by `BOX_MARGIN` px per side. When a prediction
is empty the next slice falls back to the middle slice's box, as LiteMedSAM's 3D inference
does, so one miss does not end the chain. Only the middle slice's box comes from the ground
truth: the protocol needs no per-slice annotation.

The middle slice is the middle of the z-extent; where the object is absent there (it vanishes
and reappears), the nearest slice that has it, the lower one on a tie.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosmos_bench.models.base import Candidates, PromptableModel
from cosmos_bench.prompts import Prompt, medsam_box, tight_box

PROTOCOL = "box-chain"
BOX_MARGIN = 3


def z_extent(mask: np.ndarray) -> tuple[int, int]:
    """First and last slice (inclusive) of a (Z, H, W) mask that hold the object."""
    present = np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))
    if not len(present):
        raise ValueError("the object is absent from every slice of the volume")
    return int(present[0]), int(present[-1])


def middle_slice(mask: np.ndarray) -> int:
    """The middle of the z-extent, or the nearest slice holding the object (lower on a tie)."""
    first, last = z_extent(mask)
    middle = (first + last) // 2
    present = np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))
    return int(present[np.argmin(np.abs(present - middle), axis=0)])


def chain_order(first: int, middle: int, last: int) -> list[tuple[int, int | None]]:
    """(slice, slice whose prediction prompts it) in decoding order: the middle slice (None),
    then forward to `last`, then backward to `first`."""
    order: list[tuple[int, int | None]] = [(middle, None)]
    order += [(z, z - 1) for z in range(middle + 1, last + 1)]
    order += [(z, z + 1) for z in range(middle - 1, first - 1, -1)]
    return order


def _choose(candidates: Candidates) -> np.ndarray:
    """The model's own pick: the best predicted IoU (a 3D protocol has no oracle per slice)."""
    scores = np.nan_to_num(candidates.scores, nan=-np.inf)
    return candidates.masks[int(np.argmax(scores))]


@dataclass
class ChainResult:
    prediction: np.ndarray  # (Z, H, W) bool, empty outside the z-extent
    middle: int
    fallbacks: int  # slices prompted with the middle box because the previous one was empty


def box_chain(model: PromptableModel, images: np.ndarray, mask: np.ndarray) -> ChainResult:
    """Segment one object through its z-extent with the box chain; `images` are the (Z, H, W)
    or (Z, H, W, 3) uint8 slices the 2D model takes, `mask` the (Z, H, W) ground truth."""
    first, last = z_extent(mask)
    middle = middle_slice(mask)
    middle_box = tight_box(mask[middle])
    prediction = np.zeros(mask.shape, dtype=bool)
    fallbacks = 0
    for z, previous in chain_order(first, middle, last):
        if previous is None:
            box = middle_box
        elif prediction[previous].any():
            box = medsam_box(prediction[previous], BOX_MARGIN)
        else:
            box, fallbacks = middle_box, fallbacks + 1
        embedding = model.embed(images[z])
        (candidates,) = model.decode(embedding, [Prompt(PROTOCOL, box=box.astype(np.float32))])
        prediction[z] = _choose(candidates)
    return ChainResult(prediction, middle, fallbacks)
