"""S1, Everything mode: SAM's automatic mask generator on one embedding, then mask matching.

Generation follows SamAutomaticMaskGenerator with crop_n_layers=0 (one crop, the whole image):
an m x m grid of single positive points (`grid_points`), decoded `points_per_batch` at a time
against the image's one embedding, every candidate of every point kept when its predicted IoU
is > pred_iou_thresh and its stability score (`Candidates.stability`, offset 1.0) is
>= stability_score_thresh; duplicates removed by box NMS at box_nms_thresh, scored by predicted
IoU; with min_mask_region_area > 0, holes and islands smaller than that are removed and NMS runs
again, preferring masks that needed no change. The defaults are SAM's (the COSMOS code keeps
them); SAM 2's own generator defaults differ only in pred_iou_thresh = 0.8. A model without a
predicted IoU (NaN scores) skips the IoU filter and is ranked by its stability score.

Masks are held bit-packed (8x smaller than bool), since a fine grid keeps thousands before NMS.

Matching, per ground-truth mask (`match`):
- `oracle`: the generated mask with the highest Dice against it, the paper's rule (Eq. 1);
- `score`: the best-scoring (predicted IoU) generated mask that overlaps it, what a user who
  clicks on the object would pick without knowing the ground truth;
both an empty mask when nothing was generated or nothing overlaps (every Dice is 0 then; the
paper's argmax would take an arbitrary mask, whose distances mean nothing).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torchvision.ops import nms

from cosmos_bench.core.errors import ConfigError
from cosmos_bench.core.prompt import Prompt
from cosmos_bench.models.base import Candidates, PromptableModel

STRATEGY = "S1"
MAX_POINTS_PER_SIDE = 256  # the paper's ablation goes up to 256 (the config schema's bound)


@dataclass(frozen=True)
class Settings:
    """SamAutomaticMaskGenerator's parameters that apply with one crop, with its defaults."""

    points_per_side: int = 32  # the grid's m; the paper ablates 8 .. 256
    points_per_batch: int = 64  # grid points per model.decode call
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    box_nms_thresh: float = 0.7
    min_mask_region_area: int = 0  # px; 0 = off

    def __post_init__(self) -> None:
        bad = []
        if not 1 <= self.points_per_side <= MAX_POINTS_PER_SIDE:
            bad.append(f"points_per_side={self.points_per_side} (1 .. {MAX_POINTS_PER_SIDE})")
        if self.points_per_batch < 1:
            bad.append(f"points_per_batch={self.points_per_batch} (>= 1)")
        for name in ("pred_iou_thresh", "stability_score_thresh", "box_nms_thresh"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                bad.append(f"{name}={getattr(self, name)} (0 .. 1)")
        if self.min_mask_region_area < 0:
            bad.append(f"min_mask_region_area={self.min_mask_region_area} (>= 0)")
        if bad:
            raise ConfigError(
                f"Everything-mode settings out of range: {', '.join(bad)}",
                fix="set them as SamAutomaticMaskGenerator takes them (defaults: 32, 64, "
                "0.88, 0.95, 0.7, 0)",
            )


@dataclass(frozen=True)
class Generated:
    """An image's generated masks, best score first, with what NMS and matching need."""

    shape: tuple[int, int]  # (H, W)
    packed: np.ndarray  # (K, ceil(H * W / 8)) uint8: np.packbits of each row-major mask
    scores: np.ndarray  # (K,) predicted IoU (the stability score for a model without one)
    stability: np.ndarray  # (K,)
    boxes: np.ndarray  # (K, 4) int64 x0, y0, x1, y1, inclusive pixel indices
    areas: np.ndarray  # (K,) int64 pixels
    points: np.ndarray  # (K, 2) the grid point (x, y) each mask answered

    @classmethod
    def from_masks(
        cls, masks: np.ndarray, scores: np.ndarray, stability: np.ndarray, points: np.ndarray
    ) -> Generated:
        """Pack (K, H, W) bool masks, computing each one's box and area once."""
        k, h, w = masks.shape
        packed = np.packbits(masks.reshape(k, h * w), axis=1)
        rows, cols = masks.any(axis=2), masks.any(axis=1)
        boxes = np.stack(
            [
                cols.argmax(1),
                rows.argmax(1),
                w - 1 - cols[:, ::-1].argmax(1),
                h - 1 - rows[:, ::-1].argmax(1),
            ],
            axis=1,
        ).astype(np.int64)
        areas = np.bitwise_count(packed).sum(axis=1, dtype=np.int64)
        as_float = np.asarray(scores, np.float64), np.asarray(stability, np.float64)
        return cls((h, w), packed, *as_float, boxes, areas, np.asarray(points, np.float64))

    @classmethod
    def concat(cls, parts: list[Generated], shape: tuple[int, int]) -> Generated:
        if not parts:
            return Generated.from_masks(np.zeros((0, *shape), bool), [], [], np.zeros((0, 2)))
        columns = ("packed", "scores", "stability", "boxes", "areas", "points")
        return cls(shape, *(np.concatenate([getattr(p, c) for p in parts]) for c in columns))

    def take(self, index: np.ndarray) -> Generated:
        index = np.asarray(index, np.int64)
        columns = (self.packed, self.scores, self.stability, self.boxes, self.areas, self.points)
        return Generated(self.shape, *(c[index] for c in columns))

    def __len__(self) -> int:
        return len(self.scores)

    def mask(self, k: int) -> np.ndarray:
        """Mask k as (H, W) bool."""
        h, w = self.shape
        return np.unpackbits(self.packed[k], count=h * w).view(bool).reshape(h, w)


def grid_points(m: int, shape: tuple[int, int]) -> np.ndarray:
    """SAM's build_point_grid(m) scaled to the image: (m * m, 2) (x, y) pixels, row by row.

    Along each axis the points sit at (k + 1/2) / m of the side, k = 0 .. m-1, times W or H;
    in the pixel-index frame every prompt uses (SAM adds the half-pixel itself), so m = 1 is
    (W / 2, H / 2)."""
    h, w = shape
    offset = 1 / (2 * m)
    side = np.linspace(offset, 1 - offset, m)
    ys, xs = np.meshgrid(side * h, side * w, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def keep_candidates(answers: list[Candidates], points: np.ndarray, settings: Settings) -> Generated:
    """The candidates of one batch of grid points that pass both quality thresholds.

    Only the kept masks are copied (and packed); a model with NaN scores is ranked by the
    stability score and skips the IoU filter, with a warning."""
    shape = answers[0].masks.shape[1:]
    if answers[0].stability is None:
        raise ValueError("Everything mode needs a model that reports stability scores")
    scores = np.stack([a.scores for a in answers])  # (B, C)
    stability = np.stack([a.stability for a in answers])
    keep = stability >= settings.stability_score_thresh
    if np.isnan(scores).all():
        warnings.warn(
            "the model has no predicted IoU: S1 skips pred_iou_thresh and ranks masks by "
            "their stability score",
            stacklevel=2,
        )
        scores = stability
    else:
        keep &= scores > settings.pred_iou_thresh
    which, cand = np.nonzero(keep)
    if which.size == 0:
        return Generated.concat([], shape)
    masks = np.stack([answers[b].masks[c] for b, c in zip(which, cand, strict=True)])
    kept = Generated.from_masks(masks, scores[keep], stability[keep], points[which])
    return kept.take(np.flatnonzero(kept.areas > 0))


def _nms(boxes: np.ndarray, order: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy box NMS visiting masks in `order` (best first); kept indices, ascending.

    torchvision's nms on rank scores, so ties in the model's score resolve by decode order
    (boxes are inclusive pixel indices used as corners, as SAM passes them)."""
    ranks = np.empty(len(order), np.float32)
    ranks[order] = np.arange(len(order), 0, -1)
    keep = nms(torch.as_tensor(boxes, dtype=torch.float32), torch.from_numpy(ranks), threshold)
    return np.sort(keep.numpy())


def _small_regions(mask: np.ndarray, min_area: int, holes: bool) -> tuple[np.ndarray, bool]:
    """SAM's remove_small_regions: fill holes (background components) or remove islands below
    min_area px, 8-connected; a mask made only of small islands keeps its largest."""
    region = ~mask if holes else mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=8)
    sizes = stats[1:, cv2.CC_STAT_AREA]
    small = np.flatnonzero(sizes < min_area) + 1
    if small.size == 0:
        return mask, False
    if holes:
        return mask | np.isin(labels, small), True
    large = np.setdiff1d(np.arange(1, n), small)
    if large.size == 0:
        large = np.array([int(np.argmax(sizes)) + 1])
    return np.isin(labels, large), True


def _clean_small_regions(generated: Generated, min_area: int, threshold: float) -> Generated:
    """Holes, then islands, below min_area removed; NMS again with unchanged masks first."""
    masks, changed = [], np.zeros(len(generated), bool)
    for k in range(len(generated)):
        mask, holes = _small_regions(generated.mask(k), min_area, holes=True)
        mask, islands = _small_regions(mask, min_area, holes=False)
        masks.append(mask)
        changed[k] = holes or islands
    if not changed.any():
        return generated
    g = generated
    cleaned = Generated.from_masks(np.stack(masks), g.scores, g.stability, g.points)
    order = np.lexsort((np.arange(len(g)), changed))  # unchanged first, then by score
    return cleaned.take(_nms(cleaned.boxes, order, threshold))


def deduplicate(generated: Generated, settings: Settings) -> Generated:
    """Sort by score (stable), box NMS, then the optional small-region cleaning."""
    order = np.argsort(-generated.scores, kind="stable")
    ranked = generated.take(order)
    ranked = ranked.take(_nms(ranked.boxes, np.arange(len(ranked)), settings.box_nms_thresh))
    if settings.min_mask_region_area > 0:
        ranked = _clean_small_regions(
            ranked, settings.min_mask_region_area, settings.box_nms_thresh
        )
    return ranked


def generate(
    model: PromptableModel, embedding: object, shape: tuple[int, int], settings: Settings
) -> Generated:
    """Everything mode on one embedding of an (H, W) image: every grid point decoded as one
    positive point, `points_per_batch` per decode call, filtered, then deduplicated."""
    if "point" not in model.accepts:
        raise ValueError(f"Everything mode prompts points; the model takes {sorted(model.accepts)}")
    points = grid_points(settings.points_per_side, shape)
    label = np.ones(1, np.int64)
    prompts = [Prompt(STRATEGY, points=p[None], point_labels=label) for p in points]
    parts = []
    for start in range(0, len(prompts), settings.points_per_batch):
        stop = start + settings.points_per_batch
        answers = model.decode(embedding, prompts[start:stop])
        parts.append(keep_candidates(answers, points[start:stop], settings))
    return deduplicate(Generated.concat(parts, shape), settings)


def intersections(generated: Generated, gts: np.ndarray) -> np.ndarray:
    """(K, G) pixel counts of generated mask k AND ground truth g, on the packed bits.

    Per ground truth only the bytes of its rows are read: K x (its row span) bit operations."""
    h, w = generated.shape
    inter = np.zeros((len(generated), len(gts)), np.int64)
    for g, gt in enumerate(gts):
        rows = np.flatnonzero(gt.any(axis=1))
        if rows.size == 0 or len(generated) == 0:
            continue
        lo, hi = rows[0] * w // 8, -(-(rows[-1] + 1) * w // 8)
        bits = np.packbits(gt.reshape(-1)[lo * 8 : hi * 8])
        both = generated.packed[:, lo:hi] & bits
        inter[:, g] = np.bitwise_count(both).sum(axis=1, dtype=np.int64)
    return inter


def match(generated: Generated, gts: np.ndarray) -> list[Candidates]:
    """Per ground truth (gts: (G, H, W) bool), two candidates for the selection rules.

    Each answer holds the oracle and the score-rule mask, in their generated order (the same
    mask twice when one mask is both, two empty masks with NaN scores when nothing overlaps),
    so the first-maximum rules of infer.selectable and score.select pick exactly them: the
    score rule's mask comes first on a tie in score (it is the first overlapping mask), and
    the oracle's Dice is strictly higher when the two differ (else it would come first)."""
    inter = intersections(generated, gts)
    gt_areas = np.count_nonzero(gts.reshape(len(gts), -1), axis=1)
    totals = generated.areas[:, None] + gt_areas[None, :]
    dice = np.divide(2.0 * inter, totals, out=np.zeros(inter.shape), where=totals > 0)
    h, w = generated.shape
    answers = []
    for g in range(len(gts)):
        overlap = inter[:, g] > 0
        if not overlap.any():
            answers.append(Candidates(np.zeros((2, h, w), bool), np.full(2, np.nan)))
            continue
        oracle, deployable = int(np.argmax(dice[:, g])), int(np.argmax(overlap))
        picks = sorted((oracle, deployable))
        masks = np.stack([generated.mask(k) for k in picks])
        answers.append(Candidates(masks, generated.scores[picks], generated.stability[picks]))
    return answers
