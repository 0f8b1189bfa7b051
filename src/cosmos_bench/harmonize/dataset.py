"""Harmonize one dataset: read its cases, slice, filter, normalize, cap, shard and index.

Output is a folder of HDF5 shards and one index row per kept mask (see store.index).
Masks are filtered at native resolution (harmonize.masks: the paper's size rule or MedSAM's
dust filters, optional component instances); images with no kept mask are not stored. An image
shrunk by the longest-side cap keeps its label layers at the source's size too, so every mask
can be scored at native resolution and none vanishes from the benchmark because of the cap.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage

from cosmos_bench.catalog.cards import Card, Part
from cosmos_bench.contracts import INDEX_SCHEMA
from cosmos_bench.core.errors import CosmosError
from cosmos_bench.core.progress import Console, eta
from cosmos_bench.harmonize.adapters import Case, reader_for
from cosmos_bench.harmonize.adapters.pairs import count_cases
from cosmos_bench.harmonize.masks import (
    DUST,
    Kept,
    ValueMap,
    as_categories,
    dust,
    kept_masks,
    split_components,
    value_boxes,
    value_maps,
)
from cosmos_bench.harmonize.normalize import (
    Window,
    apply,
    clip_percentiles,
    part_ct_window,
    window,
)
from cosmos_bench.harmonize.orientation import Volume, plane_of, slices
from cosmos_bench.harmonize.splits import SplitRatios, patient, split_of
from cosmos_bench.store.index import write_index
from cosmos_bench.store.shards import ShardWriter, fresh_outputs, shard_name

NO_SPACING = (float("nan"), float("nan"))


@dataclass(frozen=True)
class Settings:
    """Every harmonization choice, each named in config/README.md and recorded in the index."""

    normalization: str = "paper"
    ct_windows: dict = field(default_factory=dict)  # target or dataset -> [level, width]
    mask_filter: str = "paper"
    min_mask_pixels: int = 50  # the `paper` filter's threshold
    components: frozenset[str] = frozenset()  # objects split into connected components
    clip_percentiles: tuple[float, float] | None = None  # per-image clipping (authors' code)
    grey_2d: str = "stretch"  # an 8-bit grey 2D image stretched to 0..255, or kept (GREY_2D)
    rounding: str = "round"  # float to uint8: nearest, or truncated as the authors' code
    instance_masks: bool = False  # keep the card's instances apart (else one per category)
    max_side: int = 1024
    images_per_shard: int = 256
    codec: str = "rowdelta"
    splits: SplitRatios = SplitRatios()  # patient-level train/val/test (harmonize.splits)

    @property
    def min_pixels(self) -> int:
        """The size rule per image: the paper's threshold, or none after MedSAM's dust."""
        return self.min_mask_pixels if self.mask_filter == "paper" else 0


@dataclass
class Image:
    """One labelled image of a case, ready for the filters."""

    slice_id: str
    pixels: np.ndarray  # uint8 (H, W) or (H, W, 3)
    layers: np.ndarray  # (L, H, W) uint16
    spacing: tuple[float, float]


def case_layers(case: Case, part: Part, settings: Settings) -> list[ValueMap]:
    """Apply the volume-level steps to a case's label layers in place; return their meaning.

    MedSAM's 3D dust and the 3D component split must see the whole volume, so they run before
    slicing; on 2D cases they run on the image."""
    arrays = [lab.array if isinstance(lab, Volume) else lab for lab in case.layers]
    maps = value_maps(part.value_objects, part.instances, len(arrays))
    for labels, meaning in zip(arrays, maps, strict=True):
        if part.instances and not settings.instance_masks:
            as_categories(labels, meaning)
        if settings.mask_filter in DUST and case.is_3d:
            dust(labels, DUST[settings.mask_filter][0])
        split_components(labels, meaning, set(settings.components))
    return maps


def case_images(
    case: Case, part: Part, settings: Settings, ct_window: tuple[float, float]
) -> Iterator[tuple[Image, Window]]:
    """Yield each labelled image of a case with the intensity window it was normalized with.

    A volume is normalized with one window for all its slices, applied slice by slice, so
    memory stays near the size of the case itself; the optional percentile clipping then
    works on each image alone, as the authors' code does on its 2D files."""
    preset, clip, rounding = settings.normalization, settings.clip_percentiles, settings.rounding
    if not case.is_3d:
        layers = np.stack(case.layers).astype(np.uint16)
        if layers.any():
            mapping = window(case.image, preset, part.modality, ct_window)
            if settings.grey_2d == "keep" and case.image.dtype == np.uint8:
                mapping = None
            pixels = clip_percentiles(apply(case.image, mapping, rounding), clip, rounding)
            yield Image("2d", pixels, layers, case.spacing or NO_SPACING), mapping
        return
    mapping = window(case.image.array, preset, part.modality, ct_window)
    prefix = f"{case.frame}-" if case.frame else ""
    plane = plane_of(case.image, part.slice_axis)  # the labels follow the image's plane
    label_slices = zip(*(slices(layer, plane) for layer in case.layers), strict=True)
    for (slice_id, img, spacing), labs in zip(slices(case.image, plane), label_slices, strict=True):
        if not any(lab.any() for _, lab, _ in labs):
            continue
        layers = np.stack([lab for _, lab, _ in labs]).astype(np.uint16)
        pixels = np.ascontiguousarray(apply(img, mapping, rounding))
        pixels = clip_percentiles(pixels, clip, rounding)
        yield Image(prefix + slice_id, pixels, layers, spacing), mapping


def as_instances(layers: np.ndarray, part: Part, settings: Settings) -> np.ndarray:
    """With `split: components`, number the connected components of a binary instance mask
    (unless the dataset's instances are merged into categories)."""
    if part.format.get("split") != "components" or not settings.instance_masks:
        return layers
    return np.stack([ndimage.label(layer > 0)[0].astype(np.uint16) for layer in layers])


def image_masks(
    image: Image, part: Part, maps: list[ValueMap], settings: Settings
) -> tuple[list[Kept], set[int]]:
    """The image-level steps: instance numbering, MedSAM's 2D dust, the size rule."""
    image.layers = as_instances(image.layers, part, settings)
    if settings.mask_filter in DUST:
        for labels in image.layers:
            dust(labels, DUST[settings.mask_filter][1])
    return kept_masks(image.layers, maps, settings.min_pixels)


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


def _boxes(layers: np.ndarray, kept: list[Kept]) -> dict[Kept, tuple[slice, slice] | None]:
    """Each kept object's bounding slices in `layers` (None where it has no pixel there)."""
    found = {layer: value_boxes(layers[layer]) for layer in {k.layer for k in kept}}
    return {
        k: found[k.layer][k.label - 1] if k.label <= len(found[k.layer]) else None for k in kept
    }


def mask_rows(layers: np.ndarray, native: np.ndarray, kept: list[Kept]) -> Iterator[dict]:
    """Area and tight box of each kept object at stored resolution, and its area at the
    source's. A small object can vanish in the longest-side cap: its row stays (stored area 0,
    box from the source's box scaled), because it is scored at native resolution."""
    shrunk = native is not layers
    stored = _boxes(layers, kept) if shrunk else {mask: mask.box for mask in kept}
    sy, sx = layers.shape[1] / native.shape[1], layers.shape[2] / native.shape[2]
    for mask in kept:
        box = stored[mask]
        if box is not None:
            ys, xs = box
            area = mask.pixels  # counted in the same box of the same layer, unless shrunk
            if shrunk:
                area = int(np.count_nonzero(layers[mask.layer][box] == mask.label))
            x0, y0, x1, y1 = xs.start, ys.start, xs.stop - 1, ys.stop - 1
        else:
            ys, xs = mask.box
            area = 0
            x0, y0 = int(xs.start * sx), int(ys.start * sy)
            x1, y1 = max(x0, int((xs.stop - 1) * sx)), max(y0, int((ys.stop - 1) * sy))
        yield {
            "layer": mask.layer,
            "label": mask.label,
            "object": mask.object,
            "component": mask.component,
            "area_px": area,
            "orig_area_px": mask.pixels,
            "bbox_x0": x0,
            "bbox_y0": y0,
            "bbox_x1": x1,
            "bbox_y1": y1,
        }


class ShardSet:
    """Rolls over to a new shard every `per_shard` images."""

    def __init__(self, folder: Path, per_shard: int, codec: str) -> None:
        self.folder = folder
        self.per_shard = per_shard
        self.codec = codec
        self.k = -1
        self.writer: ShardWriter | None = None

    def append(
        self, uid: str, image: np.ndarray, labels: np.ndarray, native: np.ndarray | None
    ) -> tuple[int, int]:
        if self.writer is None or self.writer.rows == self.per_shard:
            self.close()
            self.k += 1
            self.writer = ShardWriter(self.folder / shard_name(self.k), self.codec)
        return self.k, self.writer.append(uid, image, labels, native)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def case_rows(
    card_id: str,
    part: Part,
    case: Case,
    settings: Settings,
    ct_window: tuple[float, float],
    shards: ShardSet,
    unknown: set[int],
) -> Iterator[dict]:
    """Store one case's kept images in the shards and yield their index rows."""
    maps = case_layers(case, part, settings)
    for image, mapping in case_images(case, part, settings, ct_window):
        kept, odd = image_masks(image, part, maps, settings)
        unknown |= odd
        if not kept:
            continue
        orig_h, orig_w = image.layers.shape[1:]
        pixels, layers, scale = cap_side(image.pixels, image.layers, settings.max_side)
        found = list(mask_rows(layers, image.layers, kept))
        uid = "/".join(filter(None, (card_id, part.name, case.case_id, image.slice_id)))
        native = image.layers if scale < 1.0 else None
        k, row = shards.append(uid, pixels, layers, native)
        lo, hi = mapping[:2] if mapping else (float("nan"), float("nan"))
        split = split_of(card_id, patient(part.cohort, case.case_id), settings.splits)
        for mask in found:
            suffix = f"@{mask['layer']}" if mask["layer"] else ""
            yield {
                **mask,
                "mask_id": f"{uid}#{mask['label']}{suffix}",
                "uid": uid,
                "dataset": card_id,
                "part": part.name,
                "cohort": part.cohort,
                "case": case.case_id,
                "split": split,
                "slice": image.slice_id,
                "modality": part.modality,
                "target": f"{part.modality}/{mask['object']}",
                "shard": k,
                "row": row,
                "height": layers.shape[1],
                "width": layers.shape[2],
                "orig_height": orig_h,
                "orig_width": orig_w,
                "scale": scale,
                "spacing_y": image.spacing[0] / scale,
                "spacing_x": image.spacing[1] / scale,
                "normalization": settings.normalization,
                "window_lo": lo,
                "window_hi": hi,
                "mask_filter": settings.mask_filter,
            }


def report_unmapped(dataset: str, unmapped: Counter[str]) -> None:
    """Log the structure files the card's `structures` map does not name, with the number of
    images each was left out of: a structure missing from the card must not vanish silently."""
    if not unmapped:
        return
    listing = ", ".join(
        f"{name} ({n} image{'s' * (n != 1)})" for name, n in sorted(unmapped.items())
    )
    print(
        f"[{dataset}] warning: structure files the card's structures map does not name were "
        f"left out ({len(unmapped)} names): {listing}; add them to the card's structures if "
        "they are objects",
        file=sys.stderr,
    )


def harmonize(
    card: Card,
    raw: Path,
    index_path: Path,
    shard_dir: Path,
    settings: Settings = Settings(),
    share: tuple[int, int] = (0, 1),
) -> pd.DataFrame:
    """Harmonize one dataset (all its parts) into shards plus index; return the index.

    `share` (k, n): only the cases of share k of n (catalog.Part.holds), one of n jobs whose
    outputs harmonize.merge joins; such a share may hold no case, and its index is empty.
    Shards are written into `<shard_dir>.partial`, renamed when all are closed, and the index
    is written last: a kill at any moment leaves no index, and the rerun starts clean."""
    if "unresolved" in card.raw:
        raise CosmosError(
            f"the card has no label source: {card.raw['unresolved']}",
            dataset=card.id,
            fix="leave this dataset out of `datasets`, or complete its card",
        )
    partial = fresh_outputs(index_path, shard_dir)
    shards = ShardSet(partial, settings.images_per_shard, settings.codec)
    rows: list[dict] = []
    unknown: set[int] = set()
    unmapped: Counter[str] = Counter()
    n_cases = n_slices = done = 0
    parts = [replace(part, share=share) for part in card.parts]
    total, last = sum(count_cases(raw, part, card.id) for part in parts), None
    start, console = time.monotonic(), Console()
    for part in parts:
        ct_window, why = part_ct_window(card.id, part.targets, settings.ct_windows)
        if settings.normalization == "medsam" and part.modality == "CT":
            print(f"[{card.id}] {part.name} CT window {ct_window} ({why})", file=sys.stderr)
        for case in reader_for(part)(raw, part, card.id):
            n_cases += 1
            unmapped.update(case.unmapped)
            before = len(rows)
            rows.extend(case_rows(card.id, part, case, settings, ct_window, shards, unknown))
            where = f"{part.name} " if part.name else ""
            print(
                f"[{card.id}] {where}case {case.case_id}{case.frame and ' ' + case.frame}: "
                f"{len(rows) - before} masks",
                file=sys.stderr,
            )
            n_slices += len({r["uid"] for r in rows[before:]})
            if (part.name, case.case_id) != last:  # a cine file's frames are one source case
                done, last = done + 1, (part.name, case.case_id)
            seconds = time.monotonic() - start
            console.line(f"[{card.id}] harmonize: case {done}/{total} ({where}{case.case_id}), "
                         f"{n_slices} slices, {n_slices / seconds:.1f} slices/s, ETA "
                         f"{eta(done, total, done / seconds)}")  # fmt: skip
    shards.close()
    if unknown:
        print(
            f"[{card.id}] warning: label values {sorted(unknown)} are not in the card and were "
            "ignored; add them to the card's labels if they are objects",
            file=sys.stderr,
        )
    report_unmapped(card.id, unmapped)
    console.line(f"[{card.id}] harmonize: {n_cases} cases, {n_slices} slices, done", final=True)
    index = pd.DataFrame(rows, columns=INDEX_SCHEMA.names if not rows else None)
    if index.empty and share[1] > 1:
        print(f"[{card.id}] share {share[0]} of {share[1]} holds no image", file=sys.stderr)
    elif index.empty:
        shutil.rmtree(partial)
        raise CosmosError(
            f"no mask survived harmonization ({n_cases} cases read)",
            dataset=card.id,
            path=str(raw),
            fix="check the card's labels map and format patterns against the files",
        )
    partial.rename(shard_dir)
    # masks with no pixel left in the capped copy: scored at native resolution only
    shrunk_away = int((index.area_px == 0).sum())
    summary = {"unmapped_structures": dict(sorted(unmapped.items())), "shrunk_away": shrunk_away}
    write_index(index, index_path, summary)
    print(
        f"[{card.id}] {n_cases} cases -> {index.uid.nunique()} images, {len(index)} masks, "
        f"{shards.k + 1} shards; {shrunk_away} masks have no pixel at the stored size "
        f"(max_side {settings.max_side}) and are scored at native resolution only",
        file=sys.stderr,
    )
    return index
