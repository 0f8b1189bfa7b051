"""SAM 2.1 (Hiera tiny/small/base+/large, the `sam2` package) as its image predictor runs it.

Follows SAM2ImagePredictor: SAM2Transforms (uint8 RGB to [0, 1], a square S x S resize that does
not keep the aspect ratio, ImageNet mean/std); the encoder's two high-resolution levels kept for
the decoder and `no_mem_embed` added to the last one; prompts normalised by (W, H) and scaled to
S, a box entered as two corner points with labels 2 and 3 ahead of any clicks; 3 candidates
(multimask_output=True) with the predicted IoU as score; logits bilinear to (H, W), foreground
where logit > 0. A mask prompt is an earlier answer's S/4 x S/4 low-res logits, clamped to
[-32, 32] as the predictor returns them (its `mask_input`).

S is the built model's `image_size`: 1024 for Meta's SAM 2.1 configs, 512 for MedSAM2. The
package ships only Meta's configs, so a zoo entry may list Hydra `overrides` that the package's
builders apply on top of its `architecture` (build_sam2's `hydra_overrides_extra`): MedSAM2's
own sam2.1_hiera_t512.yaml is sam2.1_hiera_t.yaml with image_size 512 and the memory
attention's RoPE feat_sizes [32, 32]. The 3D protocol's video predictor takes the same list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from cosmos_bench.core.prompt import Prompt
from cosmos_bench.models.base import (
    Candidates,
    PromptableModel,
    PromptArrays,
    as_rgb,
    autocast,
    decode_chunk,
    decode_grouped,
    logit_candidates,
)

DECODE_CHUNK = 128  # prompts per decoder call; logits go straight to (H, W)
BOX_CORNER_LABELS = (2, 3)  # SAM 2's point labels for a box's top-left and bottom-right corner
LOW_RES_CLAMP = 32.0  # SAM2ImagePredictor clamps the low-res logits it returns to +-32


@dataclass
class Embedding:
    image_embed: torch.Tensor  # (1, 256, S/16, S/16): (1, 256, 64, 64) at S = 1024
    high_res_feats: list[torch.Tensor]  # [(1, 32, S/4, S/4), (1, 64, S/8, S/8)]
    shape: tuple[int, int]  # the stored image's (H, W)


def build_sam2_net(
    config: str, weights: Path | None, device: torch.device, overrides: Sequence[str] = ()
):
    """The architecture from the package's own Hydra config with the entry's `overrides` (Hydra
    override strings, e.g. "++model.image_size=512"); `weights=None` keeps random init.

    sam2's loader reads the checkpoint with torch.load(weights_only=True) and its "model" key,
    strictly (a missing or unexpected key is an error).
    """
    from sam2.build_sam import build_sam2

    ckpt = None if weights is None else str(weights)
    net = build_sam2(config, ckpt_path=ckpt, device="cpu", hydra_overrides_extra=list(overrides))
    return net.to(device).eval()


class SAM2(PromptableModel):
    accepts = frozenset({"box", "point", "mask"})
    reports_stability = True

    def __init__(
        self,
        config: str,
        weights: Path | None,
        device: torch.device,
        overrides: Sequence[str] = (),
    ) -> None:
        from sam2.utils.transforms import SAM2Transforms

        self.device = device
        self.net = build_sam2_net(config, weights, device, overrides)
        self.size = self.net.image_size  # S: the square encoder input (1024; MedSAM2: 512)
        self.transforms = SAM2Transforms(resolution=self.size, mask_threshold=0.0)

    def embed(self, image: np.ndarray) -> Embedding:
        return self.embed_batch([image])[0]

    @torch.inference_mode()
    def embed_batch(self, images: list[np.ndarray]) -> list[Embedding]:
        """Every image is resized to S x S, so images of any size share one pass."""
        x = torch.cat([self.encoder_input(image) for image in images])
        with autocast(self.device, self.precision):
            backbone = self.net.forward_image(x)
            _, feats, _, sizes = self.net._prepare_backbone_features(backbone)
            if self.net.directly_add_no_mem_embed:
                feats[-1] = feats[-1] + self.net.no_mem_embed
        # (HW, B, C) per level, finest first, to (B, C, H, W)
        maps = [
            f.float().permute(1, 2, 0).reshape(len(images), -1, *hw)
            for f, hw in zip(feats, sizes, strict=True)
        ]
        return [
            Embedding(maps[-1][i : i + 1], [m[i : i + 1] for m in maps[:-1]], image.shape[:2])
            for i, image in enumerate(images)
        ]

    def encoder_input(self, image: np.ndarray) -> torch.Tensor:
        """The (1, 3, S, S) tensor SAM2ImagePredictor.set_image feeds the encoder."""
        x = self.transforms.to_tensor(np.ascontiguousarray(as_rgb(image))).to(self.device)
        return self.transforms.transforms(x)[None]

    @torch.inference_mode()
    def decode(self, embedding: Embedding, prompts: list[Prompt]) -> list[Candidates]:
        return decode_grouped(
            prompts,
            partial(self._decode_batch, embedding),
            decode_chunk(self.device, DECODE_CHUNK),
            self.calls,
        )

    def _decode_batch(self, emb: Embedding, prompts: list[Prompt]) -> list[Candidates]:
        """Prompts of one kind and point count through one prompt-encoder + decoder call."""
        arrays = PromptArrays.stack(prompts)
        points = self.point_prompts(arrays, emb.shape)
        encoder = self.net.sam_prompt_encoder
        masks = arrays.mask_input(encoder.mask_input_size, self.device)
        with autocast(self.device, self.precision):
            sparse, dense = encoder(points=points, boxes=None, masks=masks)
            logits, iou, _, _ = self.net.sam_mask_decoder(
                image_embeddings=emb.image_embed,
                image_pe=encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=True,
                repeat_image=True,
                high_res_features=emb.high_res_feats,
            )
        low_res = logits.float()
        full = self.transforms.postprocess_masks(low_res, emb.shape)
        clamped = low_res.clamp(-LOW_RES_CLAMP, LOW_RES_CLAMP)
        return logit_candidates(full, iou, clamped, self.transforms.mask_threshold)

    def point_prompts(
        self, arrays: PromptArrays, shape: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(B, N, 2) coordinates in encoder-input pixels and (B, N) labels, box corners first;
        None for mask-only prompts."""
        h, w = shape
        scale = np.array([self.size / w, self.size / h])
        parts, labels = [], []
        if arrays.boxes is not None:
            parts.append(arrays.boxes.reshape(-1, 2, 2) * scale)
            labels.append(np.tile(BOX_CORNER_LABELS, (len(arrays.boxes), 1)))
        if arrays.points is not None:
            parts.append(arrays.points * scale)
            labels.append(arrays.labels)
        if not parts:
            return None
        coords = torch.as_tensor(np.concatenate(parts, axis=1), dtype=torch.float32)
        label_tensor = torch.as_tensor(np.concatenate(labels, axis=1), dtype=torch.int32)
        return coords.to(self.device), label_tensor.to(self.device)
