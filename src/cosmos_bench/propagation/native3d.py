"""The CVPR 2025 interactive challenge's protocol run natively in 3D (`cvpr25-3d`), for a model
that segments whole volumes from prompts (nnInteractive, models.nninteractive).

The model keeps one session on the volume (`start_volume`). The box step gives it the middle
slice's tight box (protocols.middle_slice, core.strategies.tight_box) as a one-slice-thick 3D
box (`add_box`), and the model answers with a whole-volume prediction. Then five clicks, each
from the current 3D error by the challenge's rule (infer.clicks.cvpr25_voxel: the largest
26-connected error component, at its distance-transform maximum, ties drawn with seed 42;
positive where the truth is foreground), each added to the same session (`add_click`), which
updates the whole volume. `steps` holds the six predictions, scored after each step as the
challenge's script does (propagation.cvpr25.step_scores; the report's cvpr25 table).

How it departs from the 2D `cvpr25` protocol (propagation.cvpr25): there a 2D model gets the
box chain (each slice prompted from its neighbour's prediction) and a click changes only the
slice it lands on; here the model sees the volume, so a prompt on one slice may change every
slice, and the prediction is not confined to the object's z-extent. It departs from the
challenge itself in the box: the challenge's box spans the object's z-range (z_min..z_max with
the middle slice's in-plane box), which nnInteractive v1.0 cannot take (its checkpoint supports
2D boxes only); here the box lies on the middle slice alone, as in the 2D protocol. The model
keeps its state between steps, where the challenge calls a fresh process per step with the
previous prediction and every prompt so far: nnInteractive's own challenge baseline rebuilds
the same interactions from them (the previous prediction as its initial segmentation, the box,
then the clicks in order) and predicts at the last click, which is what the kept session holds.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from cosmos_bench.core.strategies import tight_box
from cosmos_bench.infer.clicks import cvpr25_voxel
from cosmos_bench.propagation.cvpr25 import CLICKS
from cosmos_bench.propagation.protocols import ChainResult, middle_slice

#: the methods a model needs for the native 3D protocol
METHODS = ("start_volume", "add_box", "add_click")


@runtime_checkable
class VolumeModel(Protocol):
    """A model that holds a prompting session on a whole volume; each call returns the (Z, H, W)
    bool prediction after that prompt."""

    def start_volume(self, images: np.ndarray) -> None: ...

    def add_box(self, z: int, box: np.ndarray) -> np.ndarray: ...

    def add_click(self, z: int, y: int, x: int, positive: bool) -> np.ndarray: ...


def segments_volumes(model_or_class: object) -> bool:
    """Whether a model (or its class) has the native 3D methods."""
    return all(callable(getattr(model_or_class, name, None)) for name in METHODS)


def cvpr25_native3d(model: VolumeModel, images: np.ndarray, mask: np.ndarray) -> ChainResult:
    """The box step and five clicks on one object, the whole volume at each; `images` are the
    (Z, H, W) or (Z, H, W, 3) uint8 slices, `mask` the (Z, H, W) ground truth, seen only
    through the box and the click rule."""
    middle = middle_slice(mask)
    box = tight_box(mask[middle]).astype(np.float32)
    model.start_volume(images)
    prediction = _checked(model.add_box(middle, box), mask)
    steps = [prediction]
    for _ in range(CLICKS):
        found = cvpr25_voxel(mask, prediction)
        if found is not None:  # else nothing is left to correct: the step keeps the prediction
            (z, y, x), label = found
            prediction = _checked(model.add_click(z, y, x, label == 1), mask)
        steps.append(prediction)
    return ChainResult(prediction, middle, 0, {middle: box}, steps)


def _checked(prediction: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A copy of the model's answer as a (Z, H, W) bool volume, its shape checked."""
    prediction = np.array(prediction, dtype=bool)
    if prediction.shape != mask.shape:
        raise ValueError(f"the model answered a {prediction.shape} prediction for a "
                         f"{mask.shape} volume")  # fmt: skip
    return prediction
