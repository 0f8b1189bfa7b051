"""The fine-tuning loss and the validation Dice, at the loss resolution the recipe names.

`full`: the decoder's logits upsampled to the model's S x S input, against the mask resized
into the part of it the image covers (padding 0); `low`: the 256 x 256 low-res logits against
the mask area-averaged to them (LiteMedSAM's training); `native`: the authors'
train_only_box.py, SAM's `postprocess_masks` (upsample to S, drop the padding, resize
bilinearly to the image's own size) against the mask at that size, one loss per image averaged
over the batch. The loss is per mask (sigmoid BCE + squared Dice); the authors' puts an image's
objects as the channels of one MONAI DiceCELoss (docs/deviations.md rows 9 and 17).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class NativeTargets:
    """`native` targets: each mask at its image's size, so a batch cannot be one tensor."""

    size: int  # S, the model's square input
    covered: list[tuple[int, int]]  # (h, w) of S x S the image fills, per sample
    masks: list[torch.Tensor]  # (1, H, W) float, per sample


Targets = torch.Tensor | NativeTargets


def at_target(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Logits at the target's size: upsampled bilinearly, as SAM's postprocessing does."""
    if logits.shape[-2:] == target.shape[-2:]:
        return logits
    return F.interpolate(logits, target.shape[-2:], mode="bilinear", align_corners=False)


def postprocess(
    logits: torch.Tensor, size: int, covered: tuple[int, int], shape: tuple[int, int]
) -> torch.Tensor:
    """SAM's postprocess_masks: logits (N, C, r, r) -> the image's own (N, C, H, W)."""
    h, w = covered
    full = F.interpolate(logits, (size, size), mode="bilinear", align_corners=False)
    return F.interpolate(full[..., :h, :w], shape, mode="bilinear", align_corners=False)


def dice_ce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MONAI DiceCELoss(sigmoid=True, squared_pred=True, reduction="mean") for binary masks:
    per-sample soft Dice with squared denominators (smooth 1e-5) plus mean BCE on logits.
    Logits smaller than the target are upsampled to it first: the `full` loss resolution."""
    logits = at_target(logits, target)
    prob = torch.sigmoid(logits).flatten(1)
    truth = target.flatten(1)
    inter = (prob * truth).sum(1)
    denom = (prob**2).sum(1) + (truth**2).sum(1)
    dice = 1 - (2 * inter + 1e-5) / (denom + 1e-5)
    return dice.mean() + F.binary_cross_entropy_with_logits(logits, target)


def _per_sample(logits: torch.Tensor, target: Targets) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(logits at the target's size (1, C, H, W), target (1, 1, H, W)) for each sample."""
    if isinstance(target, torch.Tensor):
        resized = at_target(logits, target)
        return [(resized[i : i + 1], target[i : i + 1]) for i in range(len(target))]
    return [
        (postprocess(logits[i : i + 1], target.size, covered, mask.shape[-2:]), mask[None])
        for i, (covered, mask) in enumerate(zip(target.covered, target.masks, strict=True))
    ]


def batch_loss(logits: torch.Tensor, target: Targets) -> torch.Tensor:
    """The batch's loss: one DiceCE over the stacked targets, or (native) the mean of each
    image's own."""
    if isinstance(target, torch.Tensor):
        return dice_ce_loss(logits, target)
    return torch.stack([dice_ce_loss(lg, t) for lg, t in _per_sample(logits, target)]).mean()


def best_dice(logits: torch.Tensor, target: Targets) -> list[float]:
    """Per sample, the best Dice among its C candidate masks (logits > 0): with one candidate
    the model's own Dice, with SAM's three the authors' multimask oracle validation."""
    dices = []
    for lg, t in _per_sample(logits, target):
        pred = (lg[0] > 0).float().flatten(1)  # (C, H*W)
        truth = t[0].flatten(1)
        inter = (pred * truth).sum(1)
        dices.append(float((2 * inter / (pred.sum(1) + truth.sum(1)).clamp(min=1)).max()))
    return dices
