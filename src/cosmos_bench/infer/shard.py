"""Inference for one (model, dataset, shard): one embedding per image, all prompts decoded.

Images go through the encoder `batch_size` at a time, the next batch read and decoded by a
worker meanwhile (core.read_ahead); every mask of an image gets a prompt per strategy the model
accepts, and all prompts of the image are decoded against its single embedding (infer.image).
Output: one row per (mask, strategy, repeat, candidate) with the candidate mask as a COCO RLE at
the stored image size, one Parquet row group per target (a target's rows are read without
scanning the others).

`resolution` (score.resolution): `native` takes each one-shot prompt on the mask at the source's
size and maps it onto the stored copy, as the authors' code maps native prompts into SAM's
frame, so an object the longest-side cap shrank away is still prompted and scored. Iterative
clicks and S1's matching compare masks at the stored size, so they skip such objects (counted).
`stored` works at the stored size throughout and skips them for every strategy (counted).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd

from cosmos_bench.contracts import PREDICTION_SCHEMA, RESOLUTIONS
from cosmos_bench.core.progress import Console, eta
from cosmos_bench.core.read_ahead import read_ahead
from cosmos_bench.infer.image import Embedded, Study, image_rows
from cosmos_bench.models import PromptableModel
from cosmos_bench.store.shards import ShardReader
from cosmos_bench.store.truth import Truth, truth_of


def read_batches(
    reader: ShardReader, images: list[tuple[int, list]], batch_size: int, resolution: str
) -> Iterator[tuple[int, list[np.ndarray], list[list[Truth]]]]:
    """(first image's position, pixels, each image's truths) of every batch of the shard:
    what infer_shard reads, done ahead of it by a worker (core.read_ahead)."""
    for first in range(0, len(images), batch_size):
        batch = images[first : first + batch_size]
        pixels = [reader.image(row) for row, _ in batch]
        truths = [[truth_of(reader, row, m, resolution) for m in masks] for row, masks in batch]
        yield first, pixels, truths


def infer_shard(
    model: PromptableModel,
    index: pd.DataFrame,
    shard: Path,
    strategies: list[str],
    *,
    batch_size: int = 1,
    store: str = "selected",
    fixed_batch: bool = False,
    study: Study = Study(),
    resolution: str = "native",
    name: str = "",
) -> pd.DataFrame:
    """Run every strategy on every mask of the shard's images (`name`: the model's, for the
    progress lines).

    `fixed_batch` pads the last batch with copies of its last image, so a compiled encoder
    sees one shape and is never compiled twice; the copies' embeddings are dropped."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}; choose from {RESOLUTIONS}")
    shrunk = index[index.area_px == 0]
    if len(shrunk):
        what = (
            "prompted at native resolution (no click or S1 rows: those compare at the stored size)"
            if resolution == "native"
            else "not inferred or scored (score.resolution: stored)"
        )
        print(f"  {len(shrunk)} masks have no pixel at the stored size: {what}", file=sys.stderr)
        if resolution == "stored":
            index = index[index.area_px > 0]
    rows: list[dict] = []
    by_image: dict[int, list] = {}  # the index's rows of each image, in the index's order
    for mask in index.itertuples(index=False):
        by_image.setdefault(int(mask.row), []).append(mask)
    images = sorted(by_image.items())
    start = time.perf_counter()
    console = Console()
    with (
        ShardReader(shard) as reader,  # closed after the worker has stopped, error or not
        closing(read_ahead(read_batches(reader, images, batch_size, resolution))) as batches,
    ):
        for first, pixels, truths in batches:
            count = len(pixels)
            if fixed_batch:
                pixels += [pixels[-1]] * (batch_size - count)
            t0 = time.perf_counter()
            embeddings = model.embed_batch(pixels)[:count]
            t_embed = (time.perf_counter() - t0) / count
            for image_truths, embedding in zip(truths, embeddings, strict=True):
                image = Embedded(model, embedding, image_truths, t_embed)
                rows.extend(image_rows(image, strategies, store, study))
            done = first + count
            rate = done / (time.perf_counter() - start)
            print(f"  {done}/{len(images)} images, {rate:.2f} images/s", file=sys.stderr)
            console.line(f"[{name}] {shard.parent.parent.name}/{shard.name}: {done}/"
                         f"{len(images)} images, {rate:.2f} images/s, ETA "
                         f"{eta(done, len(images), rate)}", final=done == len(images))  # fmt: skip
    predictions = pd.DataFrame(rows, columns=PREDICTION_SCHEMA.names)
    order = ["target", "mask_id", "strategy", "repeat", "click", "candidate"]
    return predictions.sort_values(order, kind="stable", ignore_index=True)
