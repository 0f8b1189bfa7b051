"""SAM (segment-anything ViT-B/L/H) and MedSAM: one architecture, two input conventions.

SAM follows its SamPredictor: ResizeLongestSide(1024) of the uint8 RGB image (PIL), SAM's pixel
mean/std, zero pad bottom/right to 1024x1024; prompts scaled like the image; 3 candidates
(multimask_output=True) with the predicted IoU as score; logits upsampled to 1024, cropped to
the resized size, resized to (H, W), foreground where logit > 0. A mask prompt is the decoder's
256x256 low-res logits of an earlier answer, as SamPredictor's `mask_input`.

MedSAM follows MedSAM_Inference.py, not SamPredictor: the image resized to 1024x1024 without
keeping the aspect ratio (skimage resize, order 3, anti-aliasing, then truncated to uint8),
min-max to [0, 1], no mean/std, no pad; boxes scaled by 1024 / (W, H); one candidate
(multimask_output=False); sigmoid of the low-res logits, bilinear to (H, W), > 0.5. Its IoU head
was not trained by MedSAM, so it reports no score; its stability score is taken on the upsampled
probabilities, at sigmoid(+-1), the same cut as SAM's logit +-1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from cosmos_bench.core.prompt import Prompt
from cosmos_bench.models.base import (
    STABILITY_OFFSET,
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
    split_candidates,
    stability_score,
)
from cosmos_bench.models.sam_decoder import ImageSharedDecoder

# SAM's postprocessing goes through 1024x1024 logits per candidate: 32 prompts x 3 candidates
# of float32 are 400 MB, the most one decoder call holds.
SAM_CHUNK = 32
MEDSAM_CHUNK = 128
VARIANTS = ("vit_b", "vit_l", "vit_h")
Points = tuple[np.ndarray, np.ndarray] | None  # (B, N, 2) coordinates, (B, N) labels
Boxes = np.ndarray | None  # (B, 4)


@dataclass
class Embedding:
    features: torch.Tensor  # (1, 256, 64, 64)
    shape: tuple[int, int]  # the stored image's (H, W)
    input_size: tuple[int, int]  # (h, w) of the image inside the 1024x1024 encoder input


def build_sam(variant: str, weights: Path | None, device: torch.device):
    """The segment-anything architecture; `weights=None` keeps the random init (benchmarks)."""
    from segment_anything import sam_model_registry

    if variant not in VARIANTS:
        raise ValueError(f"unknown SAM variant {variant!r}; known: {VARIANTS}")
    net = sam_model_registry[variant]()
    if weights is not None:
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return net.to(device).eval()


class SegmentAnything(PromptableModel):
    """SAM with SamPredictor's convention; the encoder runs once per batch of images."""

    accepts = frozenset({"box", "point", "mask"})
    reports_stability = True
    chunk = SAM_CHUNK
    multimask = True

    def __init__(self, variant: str, weights: Path | None, device: torch.device) -> None:
        from segment_anything.utils.transforms import ResizeLongestSide

        self.device = device
        self.net = build_sam(variant, weights, device)
        self.decoder = ImageSharedDecoder(self.net.mask_decoder)
        self.size = self.net.image_encoder.img_size
        self.transform = ResizeLongestSide(self.size)

    def embed(self, image: np.ndarray) -> Embedding:
        return self.embed_batch([image])[0]

    @torch.inference_mode()
    def embed_batch(self, images: list[np.ndarray]) -> list[Embedding]:
        """Every input is padded (or resized) to 1024x1024, so any sizes share one pass."""
        inputs, sizes = zip(*(self.encoder_input(image) for image in images), strict=True)
        with autocast(self.device, self.precision):
            features = self.net.image_encoder(torch.cat(inputs)).float()
        return [
            Embedding(features[i : i + 1], image.shape[:2], sizes[i])
            for i, image in enumerate(images)
        ]

    def train_view(self, image: np.ndarray) -> TrainView:
        """Prompts scale like the image: ResizeLongestSide's new / old size per axis."""
        x, (h, w) = self.encoder_input(image)
        height, width = image.shape[:2]
        return TrainView(x[0], (w / width, h / height), (h, w))

    def encoder_input(self, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        """The (1, 3, 1024, 1024) tensor SamPredictor.set_image feeds the encoder."""
        resized = self.transform.apply_image(np.ascontiguousarray(as_rgb(image)))
        x = torch.as_tensor(resized, device=self.device).permute(2, 0, 1)[None].float()
        return self.net.preprocess(x), resized.shape[:2]

    @torch.inference_mode()
    def decode(self, embedding: Embedding, prompts: list[Prompt]) -> list[Candidates]:
        return decode_grouped(
            prompts,
            partial(self._decode_batch, embedding),
            decode_chunk(self.device, self.chunk),
            self.calls,
        )

    def _decode_batch(self, emb: Embedding, prompts: list[Prompt]) -> list[Candidates]:
        """Prompts of one kind and point count through one prompt-encoder + decoder call."""
        arrays = PromptArrays.stack(prompts)
        points, boxes = self.input_frame(arrays, emb.shape)
        if points is not None:
            points = (self._float(points[0]), torch.as_tensor(points[1], device=self.device).int())
        if boxes is not None:
            boxes = self._float(boxes)
        logits, iou = sam_decode(
            self.net,
            self.decoder,
            emb.features,
            points,
            boxes,
            arrays,
            self.multimask,
            self.precision,
        )
        return self.candidates(logits.float(), iou, emb)

    def _float(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=torch.float32, device=self.device)

    def input_frame(self, arrays: PromptArrays, shape: tuple[int, int]) -> tuple[Points, Boxes]:
        """Points and boxes in encoder-input pixels: SAM's ResizeLongestSide.apply_coords."""
        points = None
        if arrays.points is not None:
            points = (self.transform.apply_coords(arrays.points, shape), arrays.labels)
        boxes = None if arrays.boxes is None else self.transform.apply_boxes(arrays.boxes, shape)
        return points, boxes

    def candidates(
        self, logits: torch.Tensor, iou: torch.Tensor, emb: Embedding
    ) -> list[Candidates]:
        """Sam.postprocess_masks (1024, crop, (H, W)), logit > 0; the predicted IoU scores."""
        full = self.net.postprocess_masks(logits, emb.input_size, emb.shape)
        return logit_candidates(full, iou, logits, self.net.mask_threshold)


class MedSAM(SegmentAnything):
    """SAM ViT-B weights fine-tuned by MedSAM, run with MedSAM's own convention."""

    accepts = frozenset({"box"})
    chunk = MEDSAM_CHUNK
    multimask = False

    def __init__(self, weights: Path | None, device: torch.device) -> None:
        super().__init__("vit_b", weights, device)

    def encoder_input(self, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        """MedSAM_Inference.py: 1024x1024 (aspect not kept), uint8, min-max to [0, 1]."""
        channels = [image] if image.ndim == 2 else [image[..., c] for c in range(3)]
        bounds = float(image.min()), float(image.max())
        resized = torch.stack([medsam_resize(c, self.size, bounds, self.device) for c in channels])
        resized = resized.expand(3, -1, -1)  # a grey image is its own three channels
        lo, hi = resized.min(), resized.max()
        x = (resized - lo) / torch.clamp(hi - lo, min=1e-8)
        return x[None], (self.size, self.size)

    def input_frame(self, arrays: PromptArrays, shape: tuple[int, int]) -> tuple[Points, Boxes]:
        if arrays.boxes is None or arrays.points is not None or arrays.masks is not None:
            raise ValueError("MedSAM takes box prompts only (MedSAM_Inference.py)")
        h, w = shape
        return None, arrays.boxes / np.array([w, h, w, h]) * self.size

    def candidates(
        self, logits: torch.Tensor, iou: torch.Tensor, emb: Embedding
    ) -> list[Candidates]:
        prob = F.interpolate(torch.sigmoid(logits), emb.shape, mode="bilinear", align_corners=False)
        stability = stability_score(prob, _sigmoid(STABILITY_OFFSET), _sigmoid(-STABILITY_OFFSET))
        return split_candidates(prob > 0.5, None, stability, logits)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def medsam_resize(
    channel: np.ndarray, size: int, bounds: tuple[float, float], device: torch.device
) -> torch.Tensor:
    """skimage.transform.resize(order=3, anti_aliasing=True, preserve_range=True) to a square,
    then `.astype(np.uint8)`, of one uint8 channel, as float32 (whole grey levels, exact) on
    `device`; `bounds` are the whole image's (min, max), to which skimage clips the result.

    skimage smooths with a Gaussian (sigma = (in/out - 1) / 2 where it downsamples) and zooms
    with a cubic spline (scipy.ndimage, mirror boundaries); both are linear and separable, so
    the resize is R_y @ image @ R_x^T with matrices cached per size: a matrix product on the
    GPU instead of a per-pixel spline on the CPU.
    """
    h, w = channel.shape
    on = device if device.type in ("cpu", "cuda") else torch.device("cpu")  # float64 support
    x = torch.from_numpy(channel.astype(np.float64)).to(on)
    out = _resize_matrix(h, size, on) @ x @ _resize_matrix(w, size, on).T
    return torch.floor(torch.clamp(out, *bounds)).float().to(device)  # skimage's clip, uint8


@lru_cache(maxsize=8)
def _resize_matrix(n_in: int, n_out: int, device: torch.device) -> torch.Tensor:
    """(n_out, n_in) matrix of skimage's 1D order-3 resize: column i is the resized unit vector."""
    eye = np.eye(n_in)
    sigma = max(0.0, (n_in / n_out - 1) / 2)
    if sigma > 0:
        eye = ndimage.gaussian_filter1d(eye, sigma, axis=0, mode="mirror")
    zoom = n_out / n_in
    columns = [
        ndimage.zoom(eye[:, i], zoom, order=3, mode="mirror", grid_mode=True) for i in range(n_in)
    ]
    return torch.from_numpy(np.stack(columns, axis=1)).to(device)
