"""Fine-tuning examples: which masks train, their box prompts, their low-res targets, and the
cache of image embeddings the decoder arm trains on.

A training example is one mask of the harmonized index in the run's split and object subset.
Its prompt is the tight box (the authors' code), or with `box_jitter` each edge moved outwards
by 0..jitter px at 1024 px (MedSAM's training perturbation), in the encoder-input frame of the
model. Its target is the mask in the encoder-input frame (`loss_resolution: full`, MedSAM: the
logits are upsampled to it), in the frame of the decoder's 256x256 low-res logits (`low`,
LiteMedSAM's training: cheaper) or at the image's own size (`native`, the authors' code).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.models.base import PromptableModel, TrainView, autocast
from cosmos_bench.store.index import read_index
from cosmos_bench.store.shards import ShardReader

LOW_RES = 256  # SAM v1's low-res logits (LiteMedSAM's too)
LOSS_RESOLUTIONS = ("full", "low", "native")


def training_masks(indexes: list[Path], objects: list[str], splits: list[str]) -> pd.DataFrame:
    """Masks of `objects` in `splits`, from every dataset's index, in a stable order."""
    frames = [read_index(path) for path in indexes]
    masks = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if masks.empty:
        return masks
    # a mask the longest-side cap shrank away has no box on the stored image to train with
    masks = masks[masks["object"].isin(objects) & masks["split"].isin(splits)]
    masks = masks[masks["area_px"] > 0]
    return masks.sort_values("mask_id", kind="stable", ignore_index=True)


def n_patients(masks: pd.DataFrame) -> int:
    """The patients among `masks`: (dataset, cohort, case) triples (harmonize.splits.patient)."""
    return len(masks[["dataset", "cohort", "case"]].drop_duplicates())


#: box jitter is given in pixels of a 1024-px image, MedSAM's frame (its bbox_shift of 20 at
#: 1024, LiteMedSAM's 5 at 256): a smaller image moves its box edges proportionally less
JITTER_FRAME = 1024


def jittered_box(row: pd.Series, jitter: int, rng: np.random.Generator | None) -> np.ndarray:
    """The tight box (x0, y0, x1, y1), each edge moved out by 0..jitter px at 1024 px (scaled by
    the image's longest side), inside the image. Without `rng` (validation) the tight box."""
    box = np.array([row.bbox_x0, row.bbox_y0, row.bbox_x1, row.bbox_y1], np.float64)
    pixels = int(round(jitter * max(row.height, row.width) / JITTER_FRAME))
    if rng is not None and pixels > 0:
        box += rng.integers(0, pixels + 1, 4) * np.array([-1, -1, 1, 1])
    limits = np.array([row.width - 1, row.height - 1] * 2, np.float64)
    return np.clip(box, 0, limits).astype(np.float32)


def input_box(box: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    sx, sy = scale
    return box * np.array([sx, sy, sx, sy], np.float32)


def loss_target(
    mask: np.ndarray, covered: tuple[int, int], size: int, resolution: str = "full"
) -> torch.Tensor:
    """A (1, R, R) float target: the mask resized to the part of the S x S encoder input the
    image covers (nearest), zero padding elsewhere; R = S for `full`, or area-averaged to 256
    and cut at 0.5 for `low`; for `native` the mask itself (1, H, W) (finetune.loss)."""
    if resolution == "native":
        return torch.from_numpy(mask.astype(np.float32))[None]
    h, w = covered
    resized = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    full = np.zeros((size, size), np.float32)
    full[:h, :w] = resized
    target = torch.from_numpy(full)[None, None]
    if resolution == "low" and size != LOW_RES:
        target = F.adaptive_avg_pool2d(target, LOW_RES)
    return (target[0] >= 0.5).float()


class ShardCache:
    """Open shard readers by path, so examples read images and masks without reopening."""

    def __init__(self, shards: dict[tuple[str, int], Path]) -> None:
        self.paths = shards
        self.readers: dict[tuple[str, int], ShardReader] = {}

    def reader(self, dataset: str, shard: int) -> ShardReader:
        key = (dataset, int(shard))
        if key not in self.readers:
            if key not in self.paths:
                raise FileNotFoundError(f"no shard {shard} of {dataset} was given to training")
            self.readers[key] = ShardReader(self.paths[key]).__enter__()
        return self.readers[key]

    def mask(self, row: pd.Series) -> np.ndarray:
        reader = self.reader(row.dataset, row.shard)
        return reader.mask(int(row.row), int(row.layer), int(row.label))

    def image(self, row: pd.Series) -> np.ndarray:
        return self.reader(row.dataset, row.shard).image(int(row.row))

    def close(self) -> None:
        for reader in self.readers.values():
            reader.__exit__(None, None, None)
        self.readers.clear()


def shard_paths(shards: list[Path]) -> dict[tuple[str, int], Path]:
    """(dataset, shard number) of `results/harmonized/{dataset}/shards/shard-{k}.h5` paths."""
    return {(p.parent.parent.name, int(p.stem.split("-")[1])): p for p in shards}


@dataclass
class Embeddings:
    """Cached encoder outputs of the decoder arm's images, by uid."""

    features: dict[str, torch.Tensor]  # uid -> (256, 64, 64) float16
    scale: dict[str, tuple[float, float]]
    covered: dict[str, tuple[int, int]]
    size: int  # S, the encoder input's side

    @classmethod
    def load(cls, paths: list[Path]) -> Embeddings:
        features, scale, covered, size = {}, {}, {}, 0
        for path in paths:
            part = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            size = part["size"]
            for i, uid in enumerate(part["uids"]):
                features[uid] = part["features"][i]
                scale[uid] = tuple(part["scale"][i].tolist())
                covered[uid] = tuple(part["covered"][i].tolist())
        return cls(features, scale, covered, size)


@torch.inference_mode()
def cache_embeddings(
    model: PromptableModel, masks: pd.DataFrame, shard: Path, out: Path, batch_size: int = 1
) -> int:
    """Encode every image of `masks` in `shard` once and save the fp16 features (with each
    image's prompt scale and covered size) to `out`, atomically; returns the image count."""
    rows = masks.drop_duplicates("uid").sort_values("row", kind="stable")
    uids, feats, scales, covers = [], [], [], []
    size = 0
    with ShardReader(shard) as reader:
        for first in range(0, len(rows), batch_size):
            batch = rows.iloc[first : first + batch_size]
            views = [model.train_view(reader.image(int(r))) for r in batch.row]
            size = views[0].input.shape[-1]
            feats.append(encode(model, views).to(torch.float16).cpu())
            uids += list(batch.uid)
            scales += [v.scale for v in views]
            covers += [v.covered for v in views]
    payload = {
        "uids": uids,
        "features": torch.cat(feats) if feats else torch.zeros((0, 256, 64, 64), torch.float16),
        "scale": torch.tensor(scales, dtype=torch.float64).reshape(-1, 2),
        "covered": torch.tensor(covers, dtype=torch.int64).reshape(-1, 2),
        "size": size,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(out, buffer.getvalue())
    return len(uids)


def encode(model: PromptableModel, views: list[TrainView]) -> torch.Tensor:
    """The image encoder on a batch of views (gradients flow where the encoder has any)."""
    x = torch.stack([v.input for v in views])
    with autocast(x.device, model.precision):
        return model.net.image_encoder(x).float()
