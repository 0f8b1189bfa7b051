"""nnInteractive at random init on CPU, through its real inference session: the network the
reduced plans describe (models/nninteractive_plans.json), built, saved as a model folder and
loaded by the session as a released checkpoint would be. Every prompt kind, how prompts reach
the session, determinism, one image hand-over per embedding, grey and RGB, and the CVPR 2025
protocol run natively in 3D (propagation.native3d).

AutoZoom is off except in its own slow test: on a CPU the session resamples a zoomed-out patch
in float16, seconds per prompt even for this network.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import ROOT, box, clicks, grey_image

from cosmos_bench.contracts import PROTOCOLS
from cosmos_bench.core.errors import ConfigError
from cosmos_bench.core.prompt import Prompt
from cosmos_bench.core.strategies import tight_box
from cosmos_bench.infer.clicks import cvpr25_voxel
from cosmos_bench.models.nninteractive import NnInteractive, random_init_folder
from cosmos_bench.propagation.cvpr25 import step_scores
from cosmos_bench.propagation.dataset import check_protocol
from cosmos_bench.propagation.native3d import cvpr25_native3d, segments_volumes
from cosmos_bench.propagation.protocols import NATIVE3D_PROTOCOL, middle_slice

pytestmark = pytest.mark.usefixtures("two_threads")

CPU = torch.device("cpu")
ADAPTER = "cosmos_bench.models.nninteractive:NnInteractive"




def rgb_image() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)






def prompts() -> list[Prompt]:
    """A box, a click, two clicks (one negative), the box with a negative click."""
    first = box(28, 8, 52, 32)
    return [
        first,
        clicks((40, 20, 1)),
        clicks((40, 20, 1), (10, 40, 0)),
        clicks((50, 30, 0), with_box=first),
    ]


def build(seed: int = 0, **options) -> NnInteractive:
    options = {"do_autozoom": False, "torch_n_threads": 2, **options}
    return NnInteractive(None, CPU, seed, **options)


@pytest.fixture(scope="module")
def model() -> NnInteractive:
    return build()


@pytest.fixture(scope="module")
def answers(model: NnInteractive) -> list[np.ndarray]:
    """Every prompt decoded in one call on the grey image."""
    return [c.masks for c in model.decode(model.embed(grey_image()), prompts())]


class Calls:
    """Wraps a session method, recording its arguments before calling it."""

    def __init__(self, method):
        self.method, self.args = method, []

    def __call__(self, *args, **kwargs):
        self.args.append((args, kwargs))
        return self.method(*args, **kwargs)


def spy(monkeypatch, owner: object, name: str) -> Calls:
    """Record the calls of `owner.name` (the model's session, or the model) for one test."""
    calls = Calls(getattr(owner, name))
    monkeypatch.setattr(owner, name, calls)
    return calls


def test_one_candidate_per_box_point_and_box_plus_point_prompt(answers) -> None:
    for masks in answers:
        assert masks.shape == (1, 48, 64) and masks.dtype == bool
    # different prompts reach the network: not every answer is the same mask
    assert len({m.tobytes() for m in answers}) > 1


def test_candidates_carry_no_score_and_no_logits(model: NnInteractive) -> None:
    (answer,) = model.decode(model.embed(grey_image()), [box(28, 8, 52, 32)])
    assert answer.scores.shape == (1,) and np.isnan(answer.scores).all()
    assert answer.stability is None and answer.low_res is None


@pytest.mark.slow  # seconds: more decodes or builds
def test_a_prompt_is_answered_alike_in_any_order(model, answers) -> None:
    """Each prompt starts from reset interactions: no answer depends on the ones before."""
    backwards = model.decode(model.embed(grey_image()), prompts()[::-1])[::-1]
    for masks, answer in zip(answers, backwards, strict=True):
        np.testing.assert_array_equal(masks, answer.masks)


def test_prompts_reach_the_session_as_its_interactions(monkeypatch, model) -> None:
    """A box (inclusive corners) is the half-open 2D box on slice 0, points (x, y) are (0, y, x)
    positive or negative, box first; each interaction runs its prediction."""
    boxes = spy(monkeypatch, model.session, "add_bbox_interaction")
    points = spy(monkeypatch, model.session, "add_point_interaction")
    resets = spy(monkeypatch, model.session, "reset_interactions")
    embedding = model.embed(grey_image())
    model.decode(embedding, [clicks((40, 20, 1), (10, 41, 0), with_box=box(28, 8, 52, 32))])
    assert len(resets.args) == 1
    ((bbox, include), options) = boxes.args[0]
    assert bbox == [[0, 1], [8, 33], [28, 53]] and include is True
    assert options == {"run_prediction": True}
    assert [(args, kw["run_prediction"]) for args, kw in points.args] == [
        (((0, 20, 40), True), True),
        (((0, 41, 10), False), True),
    ]


def test_predict_once_queues_a_prompt_and_predicts_at_its_last_interaction(monkeypatch) -> None:
    """nnInteractive's CVPR 2025 baseline: one prediction per prompt, at the last click."""
    model = build(predict_once=True)
    boxes = spy(monkeypatch, model.session, "add_bbox_interaction")
    points = spy(monkeypatch, model.session, "add_point_interaction")
    prompt = clicks((40, 20, 1), (10, 41, 0), with_box=box(28, 8, 52, 32))
    (answer,) = model.decode(model.embed(grey_image()), [prompt])
    assert [kw["run_prediction"] for _, kw in boxes.args + points.args] == [False, False, True]
    assert answer.masks.shape == (1, 48, 64)


@pytest.mark.slow  # seconds: more decodes or builds
def test_two_builds_with_one_seed_are_identical_and_another_seed_differs(answers) -> None:
    again, other = build(seed=0), build(seed=1)
    same = again.decode(again.embed(grey_image()), prompts())
    for masks, answer in zip(answers, same, strict=True):
        np.testing.assert_array_equal(masks, answer.masks)
    weights = [m.session.network.state_dict() for m in (again, other)]
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    (changed,) = other.decode(other.embed(grey_image()), prompts()[:1])
    assert not np.array_equal(answers[0], changed.masks)


def test_an_embedding_hands_its_image_over_once(monkeypatch, model, answers) -> None:
    """Decoding one embedding again does not set the image again; interleaved embeddings are
    each set again when their turn comes, and answer as if alone."""
    set_image = spy(monkeypatch, model.session, "set_image")
    grey = model.embed(grey_image())
    model.decode(grey, prompts()[:1])
    model.decode(grey, prompts()[:1])
    assert len(set_image.args) == 1
    rgb = model.embed(rgb_image())
    again = model.decode(grey, prompts()[:2])
    assert len(set_image.args) == 3  # rgb, then grey again
    for masks, answer in zip(answers, again, strict=False):
        np.testing.assert_array_equal(masks, answer.masks)
    model.decode(rgb, [box(5, 5, 30, 30)])
    assert len(set_image.args) == 4


def test_images_reach_the_session_raw_as_one_slice_volumes(monkeypatch, model) -> None:
    """No preprocessing of the adapter's own: the grey values (RGB: float luma) as a
    (1, 1, H, W) float32 volume; the session normalises."""
    set_image = spy(monkeypatch, model.session, "set_image")
    image, rgb = grey_image(), rgb_image()
    model.embed(image)
    model.embed(rgb)
    (volume,), _ = set_image.args[0]
    assert volume.shape == (1, 1, 48, 64) and volume.dtype == np.float32
    np.testing.assert_array_equal(volume[0, 0], image)
    (volume,), _ = set_image.args[1]
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    assert volume.shape == (1, 1, 40, 56)
    np.testing.assert_allclose(volume[0, 0], luma, rtol=0, atol=1e-4)


def test_a_grey_image_repeated_to_rgb_is_answered_as_the_grey_one(model, answers) -> None:
    rgb = np.repeat(grey_image()[..., None], 3, axis=2)
    for masks, answer in zip(answers, model.decode(model.embed(rgb), prompts()[:2]), strict=False):
        np.testing.assert_array_equal(masks, answer.masks)


def test_a_constant_image_gets_empty_masks_without_the_session(monkeypatch, model) -> None:
    set_image = spy(monkeypatch, model.session, "set_image")
    blank = np.zeros((32, 40), np.uint8)
    answers = model.decode(model.embed(blank), prompts())
    assert not set_image.args
    assert all(a.masks.shape == (1, 32, 40) and not a.masks.any() for a in answers)


def test_other_prompt_kinds_are_refused(model: NnInteractive) -> None:
    embedding = model.embed(grey_image())
    mask = np.zeros((256, 256), np.float32)
    with pytest.raises(ValueError, match="box"):
        model.decode(embedding, [Prompt("clicks-S2", box=np.array([1, 1, 9, 9]), mask=mask)])
    with pytest.raises(ValueError, match="box"):
        model.decode(embedding, [Prompt("text", text="liver")])


def test_the_random_init_folder_is_laid_out_as_a_released_one(tmp_path) -> None:
    folder = random_init_folder(tmp_path / "model", seed=3)
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert names == ["LICENSE", "dataset.json", "fold_0/checkpoint_final.pth",
                     "inference_session_class.json", "plans.json"]  # fmt: skip
    checkpoint = torch.load(folder / "fold_0/checkpoint_final.pth", weights_only=False)
    assert checkpoint["trainer_name"] == "nnInteractiveTrainer_stub"
    assert checkpoint["init_args"]["configuration"] == "3d_fullres_ps64_tiny"
    stem = next(v for k, v in checkpoint["network_weights"].items() if k.endswith(".weight"))
    assert stem.shape[1] == 8  # the image and the session's seven interaction channels
    # the weights folder is the one the session loads: the folder or a fold's checkpoint
    model = NnInteractive(folder / "fold_0/checkpoint_final.pth", CPU, 0, do_autozoom=False)
    (answer,) = model.decode(model.embed(grey_image()), [box(28, 8, 52, 32)])
    assert answer.masks.shape == (1, 48, 64)
    with pytest.raises(FileNotFoundError, match="plans.json"):
        NnInteractive(tmp_path, CPU, 0)


def blob_volume() -> tuple[np.ndarray, np.ndarray]:
    """8x48x48 noisy volume with a bright ellipsoid (the object) across slices 2-6."""
    rng = np.random.default_rng(0)
    zz, yy, xx = np.mgrid[:8, :48, :48]
    mask = ((zz - 4) / 3.0) ** 2 + ((yy - 22) / 9.0) ** 2 + ((xx - 26) / 11.0) ** 2 < 1
    images = np.clip(rng.normal(60, 12, mask.shape) + 120 * mask, 0, 255).astype(np.uint8)
    return images, mask


def test_cvpr25_natively_in_3d_is_a_box_then_five_clicks_on_one_volume(monkeypatch, model) -> None:
    """The middle slice's tight box, then each click where the challenge's rule puts it on the
    current 3D error; every step is a whole-volume prediction from one session on the volume,
    and a click changes it (unless nothing is left to correct)."""
    images, mask = blob_volume()
    set_image = spy(monkeypatch, model.session, "set_image")
    boxes = spy(monkeypatch, model, "add_box")
    added = spy(monkeypatch, model, "add_click")
    result = cvpr25_native3d(model, images, mask)
    assert len(result.steps) == 6 and len(set_image.args) == 1
    (volume,), _ = set_image.args[0]
    assert volume.shape == (1, 8, 48, 48)
    middle = middle_slice(mask)
    ((z, given), _) = boxes.args[0]
    assert z == middle == result.middle and np.array_equal(given, tight_box(mask[middle]))
    for step in result.steps:
        assert step.shape == mask.shape and step.dtype == bool
    assert len(added.args) == 5  # a random network leaves errors after every step
    for (args, _), before, after in zip(
        added.args, result.steps[:-1], result.steps[1:], strict=True
    ):
        (at, label) = cvpr25_voxel(mask, before)
        assert args == (*at, label == 1)
        assert not np.array_equal(before, after)
    np.testing.assert_array_equal(result.prediction, result.steps[-1])
    dscs, nsds = step_scores(result.steps, mask, (2.5, 0.8, 0.8))
    assert len(dscs) == len(nsds) == 6


def test_a_volume_is_set_once_for_its_objects_and_each_starts_afresh(monkeypatch, model) -> None:
    """The next object of the same volume (an equal array) reuses the session's image with its
    interactions reset: the same box gives the same answer, whatever came before."""
    images, mask = blob_volume()
    model.start_volume(images)
    first = model.add_box(4, np.array([15, 13, 37, 31]))
    model.add_click(4, 22, 26, False)
    set_image = spy(monkeypatch, model.session, "set_image")
    model.start_volume(images.copy())
    np.testing.assert_array_equal(model.add_box(4, np.array([15, 13, 37, 31])), first)
    assert not set_image.args
    model.decode(model.embed(grey_image()), prompts()[:1])
    with pytest.raises(RuntimeError, match="start_volume"):
        model.add_click(4, 20, 20, True)


def test_the_native_3d_protocol_takes_volume_models_only() -> None:
    assert NATIVE3D_PROTOCOL in PROTOCOLS and segments_volumes(NnInteractive)
    entry = {"adapter": ADAPTER, "prompts": ["box", "point"]}
    check_protocol(NATIVE3D_PROTOCOL, entry, "nninteractive")
    with pytest.raises(ConfigError, match="segments whole volumes"):
        check_protocol(NATIVE3D_PROTOCOL, {"adapter": "litemedsam", "prompts": ["box"]}, "lm")


@pytest.mark.slow  # seconds: more decodes or builds
def test_a_box_wider_than_the_patch_is_refined_reproducibly(model) -> None:
    """A box past two thirds of the 64-voxel patch makes the session zoom out (1.27x) and
    refine patch by patch, even without AutoZoom; the refinement planner's random fallback
    draws from NumPy's global generator, which the adapter seeds and then restores."""
    embedding = model.embed(grey_image())
    prompt = box(2, 2, 61, 45)
    (first,) = model.decode(embedding, [prompt])
    np.random.seed(123)
    state = np.random.get_state()
    (second,) = model.decode(embedding, [prompt])
    after = np.random.get_state()
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]
    np.testing.assert_array_equal(first.masks, second.masks)
    assert first.masks.shape == (1, 48, 64)


@pytest.mark.slow
def test_autozoom_zooms_out_and_refines(model, answers) -> None:
    """The package's default AutoZoom: the random network changes the patch border, so the
    session zooms out (up to 4x) and refines patch by patch: another answer than without."""
    zooming = build(do_autozoom=True)
    (zoomed,) = zooming.decode(zooming.embed(grey_image()), prompts()[:1])
    assert zoomed.masks.shape == (1, 48, 64)
    assert not np.array_equal(zoomed.masks, answers[0])


def test_the_zoo_entry_is_a_plugin_with_a_model_folder() -> None:
    from cosmos_bench.catalog.zoo import load_models
    from cosmos_bench.models.plugins import check

    entry = load_models(ROOT)["nninteractive"]
    assert check("nninteractive", entry) is NnInteractive
    paths = [f["path"] for f in entry["weights"]["files"]]
    assert paths == ["plans.json", "dataset.json", "inference_session_class.json",
                     "fold_0/checkpoint_final.pth"]  # fmt: skip
