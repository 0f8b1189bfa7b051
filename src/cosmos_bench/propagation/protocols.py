"""3D from promptable models: LiteMedSAM's CVPR24 box chain (`box-chain`, any 2D model) and
SAM 2's video propagation (`sam2-propagate`), each from one box on the middle slice. (The
CVPR 2025 protocols, `cvpr25` and `cvpr25-3d`, are in propagation.cvpr25 and .native3d.)

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

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from cosmos_bench.contracts import BOX_CHAIN, CVPR25_2D, CVPR25_3D, SAM2_PROPAGATE
from cosmos_bench.core.strategies import Prompt, medsam_box, tight_box
from cosmos_bench.models.base import Candidates, PromptableModel

PROTOCOL = BOX_CHAIN
SAM2_PROTOCOL = SAM2_PROPAGATE
CVPR25_PROTOCOL = CVPR25_2D  # the box chain, then five clicks (propagation.cvpr25)
NATIVE3D_PROTOCOL = CVPR25_3D  # the same in 3D, for volume models (propagation.native3d)
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


def choose(candidates: Candidates) -> np.ndarray:
    """The model's own pick: the best predicted IoU (a 3D protocol has no oracle per slice)."""
    scores = np.nan_to_num(candidates.scores, nan=-np.inf)
    return candidates.masks[int(np.argmax(scores))]


@dataclass
class ChainResult:
    prediction: np.ndarray  # (Z, H, W) bool, empty outside the z-extent
    middle: int
    fallbacks: int  # slices prompted with the middle box because the previous one was empty
    boxes: dict[int, np.ndarray] = field(default_factory=dict)  # the box each slice was given
    steps: list[np.ndarray] = field(default_factory=list)  # a stepwise protocol's predictions


def box_chain(
    model: PromptableModel,
    images: np.ndarray,
    mask: np.ndarray,
    embeddings: dict[int, object] | None = None,
) -> ChainResult:
    """Segment one object through its z-extent with the box chain; `images` are the (Z, H, W)
    or (Z, H, W, 3) uint8 slices the 2D model takes, `mask` the (Z, H, W) ground truth.

    `embeddings` (slice -> embedding), shared by the objects of one volume, keeps the engine's
    rule of one encoder pass per image: a slice crossed by five organs is encoded once."""
    embeddings = {} if embeddings is None else embeddings
    first, last = z_extent(mask)
    middle = middle_slice(mask)
    middle_box = tight_box(mask[middle])
    prediction = np.zeros(mask.shape, dtype=bool)
    fallbacks, boxes = 0, {}
    for z, previous in chain_order(first, middle, last):
        if previous is None:
            box = middle_box
        elif prediction[previous].any():
            box = medsam_box(prediction[previous], BOX_MARGIN)
        else:
            box, fallbacks = middle_box, fallbacks + 1
        if z not in embeddings:
            embeddings[z] = model.embed(images[z])
        boxes[z] = box.astype(np.float32)
        (candidates,) = model.decode(embeddings[z], [Prompt(PROTOCOL, box=boxes[z])])
        prediction[z] = choose(candidates)
    return ChainResult(prediction, middle, fallbacks, boxes)


def lost_slices(prediction: np.ndarray, mask: np.ndarray) -> int:
    """Slices where the object is present but the prediction is empty: where the propagation
    lost it (an object counts as lost when this is above 0)."""
    present = mask.reshape(len(mask), -1).any(axis=1)
    predicted = prediction.reshape(len(prediction), -1).any(axis=1)
    return int(np.count_nonzero(present & ~predicted))


#: SAM 2's video frames: ImageNet mean/std after a square resize (sam2.utils.misc)
_MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
_STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None]


def sam2_frames(images: np.ndarray, size: int) -> torch.Tensor:
    """(Z, 3, S, S) frames exactly as sam2's load_video_frames prepares JPEG frames (PIL's
    square resize of the RGB image, / 255, ImageNet mean/std), from uint8 slices directly."""
    frames = []
    for image in images:
        rgb = Image.fromarray(image).convert("RGB").resize((size, size))
        frames.append(torch.from_numpy(np.asarray(rgb) / 255.0).permute(2, 0, 1).float())
    return (torch.stack(frames) - _MEAN) / _STD


@contextmanager
def _frames_given(frames: torch.Tensor, height: int, width: int) -> Iterator[None]:
    """SAM2VideoPredictor.init_state reads frames only from a JPEG folder or an MP4; a volume's
    slices are handed to it as they are (no lossy JPEG round trip) by standing in for its
    frame loader while the state is built."""
    import sam2.sam2_video_predictor as video_module

    loader = video_module.load_video_frames

    def given(compute_device: torch.device, **_: object):
        return frames.to(compute_device), height, width

    video_module.load_video_frames = given
    try:
        yield
    finally:
        video_module.load_video_frames = loader


@torch.inference_mode()
def sam2_propagate(
    image_model: PromptableModel, video, images: np.ndarray, mask: np.ndarray
) -> ChainResult:
    """The middle slice of the object's z-extent segmented from its tight box by the image
    predictor; that mask seeds SAM 2's video predictor, which propagates it forward to the last
    slice of the extent and backward to the first (the SAM 2 medical benchmark's protocol)."""
    first, last = z_extent(mask)
    middle = middle_slice(mask)
    box = tight_box(mask[middle]).astype(np.float32)
    (candidates,) = image_model.decode(
        image_model.embed(images[middle]), [Prompt(SAM2_PROTOCOL, box=box)]
    )
    seed = choose(candidates)
    prediction = np.zeros(mask.shape, dtype=bool)
    prediction[middle] = seed
    height, width = mask.shape[1:]
    frames = sam2_frames(images[first : last + 1], video.image_size)
    with _frames_given(frames, height, width):
        state = video.init_state(video_path="volume")
    start = middle - first
    video.add_new_mask(state, frame_idx=start, obj_id=1, mask=torch.from_numpy(seed))
    for reverse in (False, True):
        for idx, _, logits in video.propagate_in_video(state, start, reverse=reverse):
            if idx != start:
                prediction[first + idx] = (logits[0, 0] > 0).cpu().numpy()
    return ChainResult(prediction, middle, 0)
