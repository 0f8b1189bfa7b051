"""The interface every model adapter implements: encode an image once, decode many prompts.

The image encoder is nearly all of the cost, so inference calls `embed` (or `embed_batch`, one
encoder pass for several images) once per image and `decode` once with every prompt of every
strategy for that image.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cosmos_bench.core.prompt import Prompt

#: the version of this contract (PromptableModel, Candidates, Prompt; docs/own-model.md); a
#: plug-in states the one it implements in `contract`
CONTRACT_VERSION = 1


@dataclass
class Candidates:
    """A model's answer to one prompt: C binary masks at image size and their scores."""

    masks: np.ndarray  # (C, H, W) bool
    scores: np.ndarray  # (C,) float; NaN where the model has no score
    # SAM's stability score per candidate (IoU of the masks at logit thresholds +1 and -1),
    # used by Everything mode; None where a model has no logits
    stability: np.ndarray | None = None
    # (C, h, w) float32 low-resolution logits, in the form a model that accepts "mask" takes
    # back as its mask prompt (Prompt.mask); None where a model has no logits
    low_res: np.ndarray | None = None
    # (C, 4) exact bounds (y0, y1, x0, x1, inclusive; -1 where a mask is empty) found where the
    # masks were made (split_candidates does it on a GPU); None: the engine searches the masks
    boxes: np.ndarray | None = None


@dataclass
class TrainView:
    """How a SAM v1-style network sees one image when it is fine-tuned (cosmos_bench.finetune):
    the encoder input, the image-to-input scale of prompts, and the part of the S x S input the
    image covers (the rest is padding); the decoder's 256x256 low-res logits span the input."""

    input: torch.Tensor  # (3, S, S) float32 encoder input, on the model's device
    scale: tuple[float, float]  # (sx, sy): image pixels -> encoder-input pixels
    covered: tuple[int, int]  # (h, w) of the input the resized image fills


class PromptableModel(ABC):
    """A promptable segmenter with its weights loaded and its own input convention."""

    #: the contract version the class implements (CONTRACT_VERSION when it was written)
    contract: int = 1
    #: prompt kinds the model can take ({"box"}, {"box", "point"}, ..., "text": infer.text)
    accepts: frozenset[str] = frozenset()
    #: autocast precision of the neural parts (PRECISIONS), set by models.build
    precision: str = "auto"
    #: whether decode fills Candidates.stability (from logits); Everything mode needs it
    reports_stability: bool = False

    #: how `decode` cuts a group of prompts into calls (CALLS); compiled decoders want few shapes
    calls: str = "free"

    def compile_networks(self) -> None:
        """torch.compile the image encoder and the mask decoder; no-op without them.

        On a CPU inductor freezes the weights (constant folding, oneDNN weight prepacking):
        LiteMedSAM's encoder in bf16 then runs in 0.35 s instead of 0.62 s compiled without it
        (benchmarks/RESULTS.md). Compilation takes about a minute per process (one decoder
        graph per prompt shape and call size; cached by inductor between processes)."""
        import torch._dynamo.config
        import torch._inductor.config

        net = getattr(self, "net", None)
        if net is None:
            return
        cpu = next(net.parameters()).device.type == "cpu"
        torch._inductor.config.freezing = cpu
        # S2-S6 alone are 4 token counts x 3 CPU call sizes: more graphs than dynamo's default 8
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        if hasattr(net, "image_encoder"):
            net.image_encoder = torch.compile(net.image_encoder, dynamic=False)
        decoder = getattr(self, "decoder", None)
        if decoder is not None:
            self.decoder = torch.compile(decoder, dynamic=False)
            self.calls = "binary" if cpu else "padded"

    def train_view(self, image: np.ndarray) -> TrainView:
        """The network's view of one uint8 image for fine-tuning; only SAM v1-style adapters
        (SAM, MedSAM, LiteMedSAM) implement it."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot be fine-tuned: only SAM, MedSAM and LiteMedSAM can"
        )

    @abstractmethod
    def embed(self, image: np.ndarray) -> Any:
        """Encode one uint8 image (H, W) or (H, W, 3); the result is opaque to callers."""

    def embed_batch(self, images: list[np.ndarray]) -> list[Any]:
        """Encode several images; models with a neural encoder run it once on the batch."""
        return [self.embed(image) for image in images]

    @abstractmethod
    def decode(self, embedding: Any, prompts: list[Prompt]) -> list[Candidates]:
        """Decode every prompt against one embedding, in the order given."""


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Grey images are repeated to three channels, as SAM-family models expect."""
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


PRECISIONS = ("auto", "fp32", "bf16")


def autocast(device: torch.device, precision: str = "auto"):
    """bf16 autocast where asked; `auto` is bf16 on CUDA, fp32 elsewhere.

    bf16 on a CPU with AVX512-BF16 runs LiteMedSAM's encoder 1.4x faster but moves its logits
    by about 3%, so the CPU keeps fp32 unless a run asks (benchmarks/RESULTS.md)."""
    bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def prompt_groups(prompts: list[Prompt]) -> list[list[int]]:
    """Indices of prompts that can share one decoder call: same kinds and same point count."""
    groups: dict[tuple[frozenset[str], int], list[int]] = {}
    for i, prompt in enumerate(prompts):
        count = 0 if prompt.points is None else len(prompt.points)
        groups.setdefault((prompt.kinds, count), []).append(i)
    return list(groups.values())


#: Prompts per decoder call on a CPU: SAM-style mask decoders are memory bound beyond a few
#: prompts there (ms per prompt, 2 threads: LiteMedSAM 57 / 56 / 98 at 1 / 4 / 64, SAM ViT-B
#: 62 / 55 / 92 at 1 / 4 / 32), while a GPU wants large calls.
CPU_DECODE_CHUNK = 4


def decode_chunk(device: torch.device, chunk: int) -> int:
    """The decoder call size for `device`, given the adapter's GPU chunk."""
    return min(chunk, CPU_DECODE_CHUNK) if device.type == "cpu" else chunk


#: "free": calls of the chunk size and the rest as it is; "binary": the rest in falling powers
#: of two (7 = 4 + 2 + 1), at most log2(chunk) + 1 call sizes and no wasted prompt (a CPU, whose
#: chunk is 4); "padded": every call filled up to the chunk with copies of its last prompt,
#: one call size (a GPU, where a padded prompt costs little and a compilation a lot)
CALLS = ("free", "binary", "padded")


def decode_grouped(
    prompts: list[Prompt],
    decode_batch: Callable[[list[Prompt]], list[Candidates]],
    chunk: int,
    calls: str = "free",
) -> list[Candidates]:
    """Decode compatible prompts together, at most `chunk` per call, answers in input order.

    The chunk bounds the memory of upsampled logits (prompts x candidates x image size); `calls`
    (CALLS) decides the sizes of a group's calls."""
    if calls not in CALLS:
        raise ValueError(f"unknown decoder call sizing {calls!r}; known: {CALLS}")
    results: list[Candidates | None] = [None] * len(prompts)
    for members in prompt_groups(prompts):
        for part in _calls(members, chunk, calls == "binary"):
            batch = [prompts[i] for i in part]
            if calls == "padded":
                batch += [batch[-1]] * (chunk - len(batch))
            answers = decode_batch(batch)[: len(part)]
            for i, answer in zip(part, answers, strict=True):
                results[i] = answer
    return results  # type: ignore[return-value]


def _calls(members: list[int], chunk: int, binary: bool) -> list[list[int]]:
    """`members` cut into calls of `chunk`; with `binary` the rest in falling powers of two."""
    full = len(members) - len(members) % chunk if binary else len(members)
    calls = [members[i : i + chunk] for i in range(0, full, chunk)]
    start, rest = full, len(members) - full
    while rest:
        size = 1 << (rest.bit_length() - 1)
        calls.append(members[start : start + size])
        start, rest = start + size, rest - size
    return calls


@dataclass(frozen=True)
class PromptArrays:
    """One group's prompts stacked: points (B, N, 2), labels (B, N), boxes (B, 4), masks
    (B, 1, h, w) float32 low-res logits, each None where the group has none."""

    points: np.ndarray | None
    labels: np.ndarray | None
    boxes: np.ndarray | None
    masks: np.ndarray | None = None

    @classmethod
    def stack(cls, prompts: list[Prompt]) -> PromptArrays:
        first = prompts[0]
        points = labels = boxes = masks = None
        if first.points is not None:
            points = np.stack([p.points for p in prompts]).astype(np.float64)
            labels = np.stack([p.point_labels for p in prompts]).astype(np.int64)
        if first.box is not None:
            boxes = np.stack([p.box for p in prompts]).astype(np.float64)
        if first.mask is not None:
            masks = np.stack([p.mask for p in prompts]).astype(np.float32, copy=False)[:, None]
        return cls(points, labels, boxes, masks)

    def mask_input(self, size: tuple[int, int], device: torch.device) -> torch.Tensor | None:
        """The mask prompts as a prompt encoder takes them, (B, 1, h, w) at its `size`."""
        if self.masks is None:
            return None
        if self.masks.shape[-2:] != tuple(size):
            raise ValueError(
                f"a mask prompt must be the model's {size[0]}x{size[1]} low-res logits "
                f"(Candidates.low_res), got {self.masks.shape[-2]}x{self.masks.shape[-1]}"
            )
        return torch.as_tensor(self.masks, device=device)


#: SAM's stability_score_offset: a mask's stability compares thresholds mask_threshold +- 1
STABILITY_OFFSET = 1.0


def sam_decode(
    net: torch.nn.Module,
    decoder: torch.nn.Module,
    features: torch.Tensor,
    points: tuple[torch.Tensor, torch.Tensor] | None,
    boxes: torch.Tensor | None,
    arrays: PromptArrays,
    multimask: bool,
    precision: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt encoder + mask decoder of a SAM v1-style network (SAM, MedSAM, LiteMedSAM):
    (low-res logits, predicted IoU) for prompts already in the model's input frame. `decoder`
    is the network's mask decoder as an ImageSharedDecoder (possibly compiled)."""
    encoder = net.prompt_encoder
    masks = arrays.mask_input(encoder.mask_input_size, features.device)
    with autocast(features.device, precision):
        sparse, dense = encoder(points=points, boxes=boxes, masks=masks)
        return decoder(
            features,
            encoder.get_dense_pe(),
            sparse,
            dense if masks is not None else dense[:1],  # no mask: one vector for all prompts
            multimask,
        )


def stability_score(values: torch.Tensor, high: float, low: float) -> torch.Tensor:
    """SAM's stability score over the last two dims: |values > high| / |values > low|, the
    IoU of the two nested masks; 0 where even the looser mask is empty (SAM gives NaN there,
    which fails every threshold too). Counts on the device, the ratio in float64 on the CPU."""
    inner = torch.count_nonzero(values > high, dim=(-2, -1)).cpu().double()
    outer = torch.count_nonzero(values > low, dim=(-2, -1)).cpu().double()
    return inner / outer.clamp(min=1)


def split_candidates(
    masks: torch.Tensor,
    scores: torch.Tensor | None,
    stability: torch.Tensor | None = None,
    low_res: torch.Tensor | None = None,
) -> list[Candidates]:
    """(B, C, H, W) bool masks, (B, C) scores (None: the model has none), (B, C) stability and
    (B, C, h, w) low-res logits, per prompt."""
    masks_np = masks.cpu().numpy()
    if scores is None:
        scores_np = np.full(masks_np.shape[:2], np.nan)
    else:
        scores_np = scores.float().cpu().numpy().astype(np.float64)
    stab = None if stability is None else stability.double().cpu().numpy()
    low = None if low_res is None else low_res.float().cpu().numpy()
    boxes = None if masks.device.type == "cpu" else mask_bounds(masks).cpu().numpy()
    return [
        Candidates(
            masks_np[i],
            scores_np[i],
            None if stab is None else stab[i],
            None if low is None else low[i],
            None if boxes is None else boxes[i],
        )
        for i in range(len(masks_np))
    ]


def mask_bounds(masks: torch.Tensor) -> torch.Tensor:
    """(..., 4) bounds (y0, y1, x0, x1, inclusive; -1 where empty) of (..., H, W) bool masks,
    on their device: a GPU finds them in one pass over masks it already holds, and the engine
    then reads each mask only inside its box, not the whole of it (core.extent.bounds)."""
    rows, cols = masks.any(dim=-1), masks.any(dim=-2)
    found = []
    for flags in (rows, cols):
        n = flags.shape[-1]
        first = flags.byte().argmax(dim=-1)  # argmax gives the first of equal maxima
        last = n - 1 - flags.flip(-1).byte().argmax(dim=-1)
        found += [first, last]
    box = torch.stack(found, dim=-1)
    return torch.where(rows.any(dim=-1, keepdim=True), box, torch.full_like(box, -1))


def logit_candidates(
    logits: torch.Tensor, scores: torch.Tensor, low_res: torch.Tensor, threshold: float = 0.0
) -> list[Candidates]:
    """Candidates from (B, C, H, W) logits at image size: masks where logits > threshold, the
    stability score at threshold +- STABILITY_OFFSET (as SamAutomaticMaskGenerator computes it,
    on the logits the mask is taken from) and the low-res logits for a later mask prompt."""
    stability = stability_score(logits, threshold + STABILITY_OFFSET, threshold - STABILITY_OFFSET)
    return split_candidates(logits > threshold, scores, stability, low_res)
