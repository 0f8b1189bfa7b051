"""The CVPR 2025 interactive challenge's protocol in 3D (JunMa11/CVPR-MedSegFMCompetition,
`CVPR25_iter_eval.py`), for a 2D model that takes boxes and points.

The box step is the box chain (protocols.box_chain: the middle slice's tight box, then each
slice prompted from its neighbour's prediction), since a 2D model cannot take the challenge's
3D box. Then five clicks, each from the current 3D error by the challenge's rule
(infer.clicks.cvpr25_voxel: the largest 26-connected error component, at its distance-transform
maximum, ties drawn with seed 42; positive where the truth is foreground). A click lands on one
slice; that slice is decoded again from its box and every click it has had, and only it changes
(a 2D model has no way to carry a click to other slices). After each step the script's metrics:
DSC and NSD at 2 mm with the volume's spacing, DeepMind's surface distances (`surface-distance`)
as its `compute_multi_class_nsd` takes them; the report's `cvpr25` table averages them per case
(a volume) and takes the AUC over the click steps.
"""

from __future__ import annotations

import warnings

import numpy as np
import surface_distance

from cosmos_bench.core.prompt import Prompt
from cosmos_bench.infer.clicks import cvpr25_voxel
from cosmos_bench.models.base import PromptableModel
from cosmos_bench.propagation.protocols import CVPR25_PROTOCOL, ChainResult, box_chain, choose

CLICKS = 5  # after the box step
TOLERANCE_MM = 2.0  # compute_multi_class_nsd's default, in mm at the volume's spacing


def cvpr25_3d(
    model: PromptableModel,
    images: np.ndarray,
    mask: np.ndarray,
    embeddings: dict[int, object] | None = None,
) -> ChainResult:
    """The box step and five clicks on one object; `steps` holds the six predictions."""
    embeddings = {} if embeddings is None else embeddings
    chain = box_chain(model, images, mask, embeddings)
    prediction = chain.prediction.copy()
    steps = [prediction.copy()]
    clicks: dict[int, list[tuple[float, float, int]]] = {}
    for _ in range(CLICKS):
        found = cvpr25_voxel(mask, prediction)
        if found is None:  # nothing left to correct: the later steps keep the prediction
            steps.append(prediction.copy())
            continue
        (z, y, x), label = found
        clicks.setdefault(z, []).append((float(x), float(y), label))
        points = np.array([(px, py) for px, py, _ in clicks[z]], np.float32)
        labels = np.array([lab for _, _, lab in clicks[z]], np.int64)
        if z not in embeddings:
            embeddings[z] = model.embed(images[z])
        prompt = Prompt(CVPR25_PROTOCOL, points=points, point_labels=labels, box=chain.boxes.get(z))
        (candidates,) = model.decode(embeddings[z], [prompt])
        prediction[z] = choose(candidates)
        steps.append(prediction.copy())
    return ChainResult(prediction, chain.middle, chain.fallbacks, chain.boxes, steps)


def step_scores(
    steps: list[np.ndarray], truth: np.ndarray, spacing: tuple[float, float, float]
) -> tuple[list[float], list[float]]:
    """DSC and NSD (2 mm) after each step, as the challenge's script computes them."""
    dscs, nsds = [], []
    for prediction in steps:
        pred, gt = prediction.astype(bool), truth.astype(bool)
        dscs.append(float(2 * np.count_nonzero(pred & gt) / (pred.sum() + gt.sum())))
        with warnings.catch_warnings():  # it imports scipy.ndimage's deprecated namespaces
            warnings.simplefilter("ignore", DeprecationWarning)
            distances = surface_distance.compute_surface_distances(gt, pred, spacing)
        nsds.append(float(surface_distance.compute_surface_dice_at_tolerance(
            distances, TOLERANCE_MM)))  # fmt: skip
    return dscs, nsds
