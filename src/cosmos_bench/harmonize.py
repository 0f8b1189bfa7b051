"""Harmonize one dataset: read its cases, slice, filter, normalize, cap, shard and index.

Output is a folder of HDF5 shards and one index row per kept mask (see cosmos_bench.index).
Masks are filtered at native resolution with the paper's rule (an object with at most
`min_mask_pixels` pixels in a slice is dropped); images with no kept mask are not stored.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage

from cosmos_bench.adapters import Case, reader_for
from cosmos_bench.catalog import Card, Part, load_card, load_ontology
from cosmos_bench.errors import CosmosError, run_cli
from cosmos_bench.index import write_index
from cosmos_bench.normalize import PRESETS, apply, to_uint8, window
from cosmos_bench.shards import ShardWriter, shard_name
from cosmos_bench.volume import slices

NO_SPACING = (float("nan"), float("nan"))


def case_images(
    case: Case, part: Part, preset: str
) -> Iterator[tuple[str, np.ndarray, np.ndarray, tuple[float, float]]]:
    """Yield (slice id, uint8 image, label layers (L, H, W), spacing) per labelled image.

    A volume is normalized with one window for all its slices, applied slice by slice, so
    memory stays near the size of the case itself."""
    if not case.is_3d:
        layers = np.stack(case.layers).astype(np.uint16)
        if layers.any():
            image = to_uint8(case.image, preset, part.modality)
            yield "2d", image, layers, case.spacing or NO_SPACING
        return
    mapping = window(case.image.array, preset, part.modality)
    prefix = f"{case.frame}-" if case.frame else ""
    label_slices = zip(*(slices(layer, part.slice_axis) for layer in case.layers), strict=True)
    for (slice_id, img, spacing), labs in zip(
        slices(case.image, part.slice_axis), label_slices, strict=True
    ):
        if not any(lab.any() for _, lab, _ in labs):
            continue
        layers = np.stack([lab for _, lab, _ in labs]).astype(np.uint16)
        image = np.ascontiguousarray(apply(img, mapping))
        yield prefix + slice_id, image, layers, spacing


def as_instances(layers: np.ndarray, part: Part) -> np.ndarray:
    """With `split: components`, number the connected components of a binary instance mask."""
    if part.format.get("split") != "components":
        return layers
    return np.stack([ndimage.label(layer > 0)[0].astype(np.uint16) for layer in layers])


def kept_masks(layers: np.ndarray, part: Part, min_pixels: int) -> tuple[list, set[int]]:
    """(layer, value, object) of each mask with more than `min_pixels` pixels (the paper's rule),
    and the label values the card does not name."""
    kept, unknown = [], set()
    objects = part.value_objects
    for layer, labels in enumerate(layers):
        counts = np.bincount(labels.ravel())  # one pass; label values are small integers
        for value in np.flatnonzero(counts[1:]).tolist():
            value += 1
            obj = part.instances or objects.get(value)
            if obj is None:
                unknown.add(value)
            elif counts[value] > min_pixels:
                kept.append((layer, value, obj))
    return kept, unknown


def cap_side(
    image: np.ndarray, layers: np.ndarray, max_side: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Downscale so the longest side is at most max_side: area for images, nearest for labels."""
    h, w = layers.shape[1:]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return image, layers, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small_layers = np.stack(
        [cv2.resize(layer, size, interpolation=cv2.INTER_NEAREST) for layer in layers]
    )
    return small, small_layers, size[0] / w


def mask_rows(layers: np.ndarray, kept: list[tuple[int, int, str]]) -> Iterator[dict]:
    """Area and tight box of each kept object, at stored resolution (one pass per layer)."""
    boxes = {layer: ndimage.find_objects(layers[layer]) for layer in {k[0] for k in kept}}
    for layer, value, obj in kept:
        box = boxes[layer][value - 1] if value <= len(boxes[layer]) else None
        if box is None:  # a small object can vanish in the longest-side cap
            continue
        ys, xs = box
        area = int(np.count_nonzero(layers[layer][box] == value))
        yield {
            "layer": layer,
            "label": value,
            "object": obj,
            "area_px": area,
            "bbox_x0": xs.start,
            "bbox_y0": ys.start,
            "bbox_x1": xs.stop - 1,
            "bbox_y1": ys.stop - 1,
        }


class ShardSet:
    """Rolls over to a new shard every `per_shard` images."""

    def __init__(self, folder: Path, per_shard: int) -> None:
        self.folder = folder
        self.per_shard = per_shard
        self.k = -1
        self.writer: ShardWriter | None = None

    def append(self, uid: str, image: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
        if self.writer is None or self.writer.rows == self.per_shard:
            self.close()
            self.k += 1
            self.writer = ShardWriter(self.folder / shard_name(self.k))
        return self.k, self.writer.append(uid, image, labels)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def harmonize(
    card: Card,
    raw: Path,
    index_path: Path,
    shard_dir: Path,
    *,
    normalization: str = "paper",
    max_side: int = 1024,
    min_mask_pixels: int = 50,
    images_per_shard: int = 256,
) -> pd.DataFrame:
    """Harmonize one dataset (all its parts) into shards plus index; return the index."""
    if "unresolved" in card.raw:
        raise CosmosError(
            f"the card has no label source: {card.raw['unresolved']}",
            dataset=card.id,
            fix="leave this dataset out of `datasets`, or complete its card",
        )
    if shard_dir.exists():
        shutil.rmtree(shard_dir)
    shard_dir.mkdir(parents=True)
    shards = ShardSet(shard_dir, images_per_shard)
    rows: list[dict] = []
    unknown: set[int] = set()
    n_cases = 0
    for part in card.parts:
        for case in reader_for(part)(raw, part, card.id):
            n_cases += 1
            before = len(rows)
            for slice_id, image, layers, spacing in case_images(case, part, normalization):
                layers = as_instances(layers, part)
                kept, odd = kept_masks(layers, part, min_mask_pixels)
                unknown |= odd
                if not kept:
                    continue
                orig_h, orig_w = layers.shape[1:]
                image, layers, scale = cap_side(image, layers, max_side)
                found = list(mask_rows(layers, kept))
                if not found:
                    continue
                uid = "/".join(filter(None, (card.id, part.name, case.case_id, slice_id)))
                k, row = shards.append(uid, image, layers)
                for mask in found:
                    suffix = f"@{mask['layer']}" if mask["layer"] else ""
                    rows.append(
                        {
                            **mask,
                            "mask_id": f"{uid}#{mask['label']}{suffix}",
                            "uid": uid,
                            "dataset": card.id,
                            "part": part.name,
                            "case": case.case_id,
                            "slice": slice_id,
                            "modality": part.modality,
                            "target": f"{part.modality}/{mask['object']}",
                            "shard": k,
                            "row": row,
                            "height": layers.shape[1],
                            "width": layers.shape[2],
                            "orig_height": orig_h,
                            "orig_width": orig_w,
                            "scale": scale,
                            "spacing_y": spacing[0] / scale,
                            "spacing_x": spacing[1] / scale,
                            "normalization": normalization,
                        }
                    )
            where = f"{part.name} " if part.name else ""
            print(
                f"[{card.id}] {where}case {case.case_id}{case.frame and ' ' + case.frame}: "
                f"{len(rows) - before} masks",
                file=sys.stderr,
            )
    shards.close()
    if unknown:
        print(
            f"[{card.id}] warning: label values {sorted(unknown)} are not in the card and were "
            "ignored; add them to the card's labels if they are objects",
            file=sys.stderr,
        )
    index = pd.DataFrame(rows)
    if index.empty:
        raise CosmosError(
            f"no mask survived harmonization ({n_cases} cases read)",
            dataset=card.id,
            path=str(raw),
            fix="check the card's labels map and format patterns against the files",
        )
    write_index(index, index_path)
    print(
        f"[{card.id}] {n_cases} cases -> {index.uid.nunique()} images, {len(index)} masks, "
        f"{shards.k + 1} shards",
        file=sys.stderr,
    )
    return index


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--raw", type=Path, required=True, help="the unpacked source folder")
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--shards", type=Path, required=True)
    parser.add_argument("--normalization", choices=PRESETS, default="paper")
    parser.add_argument("--max-side", type=int, default=1024)
    parser.add_argument("--min-mask-pixels", type=int, default=50)
    parser.add_argument("--images-per-shard", type=int, default=256)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the workflow's folder")
    args = parser.parse_args(argv)
    card = load_card(args.root, args.dataset, load_ontology(args.root))
    harmonize(
        card,
        args.raw,
        args.index,
        args.shards,
        normalization=args.normalization,
        max_side=args.max_side,
        min_mask_pixels=args.min_mask_pixels,
        images_per_shard=args.images_per_shard,
    )


if __name__ == "__main__":
    run_cli(main)
