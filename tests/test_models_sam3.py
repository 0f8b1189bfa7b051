"""SAM 3 through the plug-in API at random init on a CPU: the released architecture with a
2-block vision ViT and a 2-layer text encoder (`blocks`, `text_layers`), at its fixed 1008 px
input. One build and one image encoding serve the module (about 10 s); each text prompt runs the
fusion encoder and the grounding head (about 4 s; four in the module), a point or box prompt the
interactive head.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import ROOT

from cosmos_bench.catalog.zoo import load_models
from cosmos_bench.core.prompt import Prompt
from cosmos_bench.models import build
from cosmos_bench.models.plugins import check
from cosmos_bench.models.sam3 import RESOLUTION, SAM3

pytestmark = pytest.mark.slow

CPU = torch.device("cpu")
SMALL = {"blocks": 2, "text_layers": 2}
BOX = np.array([20, 8, 44, 30], np.float32)


def image() -> np.ndarray:
    """40x56 grey image (H < W) with a bright disc."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:40, :56]
    pixels = rng.normal(70, 15, (40, 56)) + 110 * (np.hypot(yy - 18, xx - 32) < 10)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def sam3_entry(**options) -> dict:
    entry = load_models(ROOT)["sam3"]
    return {**entry, "options": {**SMALL, **options}}


@pytest.fixture(scope="module")
def sam3():
    """The zoo's entry built through the plug-in path (its entry point), every instance of a
    phrase kept (confidence 0), and the test image encoded once, its encoder input captured."""
    model = build(sam3_entry(confidence=0.0), None, CPU, seed=0)
    inputs: list[torch.Tensor] = []
    trunk = model.net.backbone.vision_backbone.trunk
    hook = trunk.register_forward_pre_hook(lambda _m, args: inputs.append(args[0].clone()))
    try:
        embedding = model.embed(image())
    finally:
        hook.remove()
    return model, embedding, inputs[0]


def test_the_zoo_entry_is_a_plugin_checked_like_a_labs() -> None:
    assert check("sam3", load_models(ROOT)["sam3"]) is SAM3


def test_encoder_sees_the_processors_square_resize_and_half_normalisation(sam3) -> None:
    _, _, seen = sam3
    rgb = torch.from_numpy(np.repeat(image()[None], 3, axis=0)).float()[None]
    resized = F.interpolate(rgb, (RESOLUTION, RESOLUTION), mode="bilinear", antialias=True)
    expected = (resized.round().clamp(0, 255) / 255 - 0.5) / 0.5
    assert seen.shape == (1, 3, RESOLUTION, RESOLUTION)
    assert torch.allclose(seen, expected, atol=2 / 255 / 0.5)


def test_boxes_points_and_masks_get_three_scored_candidates(sam3) -> None:
    model, embedding, _ = sam3
    box = Prompt("S5", box=BOX)
    click = Prompt("S2", points=np.array([[32, 18]], np.float32), point_labels=np.array([1]))
    first, second = model.decode(embedding, [box, click])
    for answer in (first, second):
        assert answer.masks.shape == (3, 40, 56) and answer.masks.dtype == bool
        assert answer.scores.shape == (3,) and np.isfinite(answer.scores).all()
    refined = Prompt("S2", points=click.points, point_labels=click.point_labels,
                     mask=second.low_res[0])  # fmt: skip
    (again,) = model.decode(embedding, [refined])
    assert again.masks.shape == (3, 40, 56)
    assert not np.array_equal(model.decode(embedding, [click])[0].scores, again.scores)


@pytest.fixture(scope="module")
def phrases(sam3):
    """A phrase alone, then the phrase with a box exemplar and the phrase again in one call,
    with the image encoder's calls counted (grounding runs about 4 s per text prompt)."""
    model, embedding, _ = sam3
    phrase = Prompt("text", text="liver")
    with_box = Prompt("text-box", text="liver", box=BOX)
    calls = []
    encode = model.net.backbone.forward_image
    model.net.backbone.forward_image = lambda *a, **k: calls.append(1) or encode(*a, **k)
    try:
        alone = model.decode(embedding, [phrase])[0]
        after_box = model.decode(embedding, [with_box, phrase])
    finally:
        model.net.backbone.forward_image = encode
    return alone, after_box, calls


def test_a_phrase_answers_every_instance_above_the_confidence(sam3, phrases) -> None:
    model, embedding, _ = sam3
    every, _, _ = phrases
    assert every.masks.shape[1:] == (40, 56) and len(every.masks) > 1
    assert np.all(np.diff(every.scores) <= 0)  # best first
    model.processor.confidence_threshold = 1.0  # no probability exceeds it: an empty answer
    try:
        (none,) = model.decode(embedding, [Prompt("text", text="liver")])
    finally:
        model.processor.confidence_threshold = 0.0
    assert none.masks.shape == (0, 40, 56) and none.scores.shape == (0,)


def test_prompts_do_not_see_each_other_and_the_image_is_encoded_once(phrases) -> None:
    alone, after_box, calls = phrases
    assert calls == []
    assert np.array_equal(alone.scores, after_box[1].scores)
    assert np.array_equal(alone.masks, after_box[1].masks)
    assert not np.array_equal(after_box[0].scores, alone.scores)  # the exemplar box counts


def test_random_init_is_reproducible_from_the_seed() -> None:
    first, second = (SAM3(None, CPU, seed=7, **SMALL) for _ in range(2))
    other = SAM3(None, CPU, seed=8, **SMALL)
    a, b, c = (m.net.state_dict() for m in (first, second, other))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
