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

from cosmos_bench.adapters import Case, reader_for
from cosmos_bench.catalog import Card, load_card, load_ontology
from cosmos_bench.errors import CosmosError, run_cli
from cosmos_bench.index import write_index
from cosmos_bench.normalize import PRESETS, to_uint8
from cosmos_bench.shards import ShardWriter, shard_name
from cosmos_bench.volume import slices

NO_SPACING = (float("nan"), float("nan"))


def case_images(
    case: Case, card: Card, preset: str
) -> Iterator[tuple[str, np.ndarray, np.ndarray, tuple[float, float]]]:
    """Yield (slice id, uint8 image, label map, spacing) for every labelled image of a case."""
    if not case.is_3d:
        if case.labels.any():
            image = to_uint8(case.image, preset, card.modality)
            yield "2d", image, case.labels, case.spacing or NO_SPACING
        return
    image = case.image
    image.array = to_uint8(image.array, preset, card.modality)
    plane = card.raw.get("slice_axis", "axial")
    for (slice_id, img, spacing), (_, lab, _) in zip(
        slices(image, plane), slices(case.labels, plane), strict=True
    ):
        if lab.any():
            yield slice_id, np.ascontiguousarray(img), np.ascontiguousarray(lab), spacing


def kept_labels(
    values: np.ndarray, counts: np.ndarray, label_map: dict[int, str], min_pixels: int
) -> list[int]:
    """Label values of the card's objects with more than `min_pixels` pixels (the paper's rule)."""
    return [
        int(v) for v, c in zip(values, counts, strict=True) if v in label_map and c > min_pixels
    ]


def cap_side(
    image: np.ndarray, labels: np.ndarray, max_side: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Downscale so the longest side is at most max_side: area for images, nearest for labels."""
    h, w = labels.shape
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return image, labels, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small_labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    return small, small_labels, size[0] / w


def mask_rows(labels: np.ndarray, values: list[int]) -> Iterator[dict]:
    """Area and tight box of each kept object, at stored resolution."""
    for value in values:
        ys, xs = np.nonzero(labels == value)
        if ys.size == 0:
            continue
        yield {
            "label": value,
            "area_px": int(ys.size),
            "bbox_x0": int(xs.min()),
            "bbox_y0": int(ys.min()),
            "bbox_x1": int(xs.max()),
            "bbox_y1": int(ys.max()),
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
    """Harmonize one dataset into shards plus index; return the index."""
    if shard_dir.exists():
        shutil.rmtree(shard_dir)
    shard_dir.mkdir(parents=True)
    shards = ShardSet(shard_dir, images_per_shard)
    rows: list[dict] = []
    unknown: set[int] = set()
    n_cases = 0
    for case in reader_for(card)(raw, card):
        n_cases += 1
        before = len(rows)
        for slice_id, image, labels, spacing in case_images(case, card, normalization):
            present, counts = np.unique(labels, return_counts=True)
            unknown |= set(present.tolist()) - set(card.labels) - {0}
            values = kept_labels(present, counts, card.labels, min_mask_pixels)
            if not values:
                continue
            orig_h, orig_w = labels.shape
            image, labels, scale = cap_side(image, labels, max_side)
            uid = f"{card.id}/{case.case_id}/{slice_id}"
            found = list(mask_rows(labels, values))
            if not found:
                continue
            k, row = shards.append(uid, image, labels)
            for mask in found:
                obj = card.labels[mask["label"]]
                rows.append(
                    {
                        **mask,
                        "mask_id": f"{uid}#{mask['label']}",
                        "uid": uid,
                        "dataset": card.id,
                        "case": case.case_id,
                        "slice": slice_id,
                        "modality": card.modality,
                        "object": obj,
                        "target": f"{card.modality}/{obj}",
                        "shard": k,
                        "row": row,
                        "height": labels.shape[0],
                        "width": labels.shape[1],
                        "orig_height": orig_h,
                        "orig_width": orig_w,
                        "scale": scale,
                        "spacing_y": spacing[0] / scale,
                        "spacing_x": spacing[1] / scale,
                        "normalization": normalization,
                    }
                )
        print(f"[{card.id}] case {case.case_id}: {len(rows) - before} masks", file=sys.stderr)
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
