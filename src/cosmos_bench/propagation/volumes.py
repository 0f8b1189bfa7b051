"""The per-case volume store of 3D datasets, for the propagation protocols (propagation.protocols).

2D shards keep only the slices where a mask passes the size filter; a 3D protocol needs every
slice of an object's extent. For each 3D case this writes the contiguous stack of slices from
the first to the last slice any object touches, at native spacing, normalized to uint8 with the
very window harmonization uses (harmonize.normalize, the same `window` and `apply`), and the
label layers after the same volume-level steps (MedSAM's 3D dust, component splits). One row per
3D object (a label value of a layer) goes into `volumes.parquet`.

Files: `{out}/{part--}{case}[-frame].h5`, one case each (their layout: store.volumes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from cosmos_bench.catalog.cards import Card, Part
from cosmos_bench.contracts import VOLUME_OBJECT_COLUMNS
from cosmos_bench.core.atomic import replacing
from cosmos_bench.core.errors import run_cli
from cosmos_bench.harmonize.adapters import Case, reader_for
from cosmos_bench.harmonize.arguments import add_settings_arguments, settings_from
from cosmos_bench.harmonize.dataset import Settings, case_layers
from cosmos_bench.harmonize.normalize import apply, clip_percentiles, part_ct_window, window
from cosmos_bench.harmonize.orientation import PLANES, plane_of, slices
from cosmos_bench.harmonize.splits import patient, split_of
from cosmos_bench.store.volumes import StoredVolume, write_volume

#: adapters that only read 2D images: their parts have no volume to store
FLAT_ADAPTERS = ("image-mask-pairs",)

def _stack(volume, plane: str, lo: int, hi: int) -> tuple[np.ndarray, tuple[float, float]]:
    """Slices lo..hi (inclusive) along `plane`, oriented as harmonization slices them."""
    picked = [(arr, spacing) for k, (_, arr, spacing) in enumerate(slices(volume, plane))
              if lo <= k <= hi]  # fmt: skip
    return np.stack([a for a, _ in picked]), picked[0][1]


def case_objects(case: Case, part: Part, settings: Settings) -> tuple[list, list[np.ndarray]]:
    """(layer, value, object) of every labelled object of a 3D case, and its label layers."""
    maps = case_layers(case, part, settings)
    objects = []
    for layer, (labels, meaning) in enumerate(zip(case.layers, maps, strict=True)):
        for value in np.unique(labels.array).tolist():
            name, _ = meaning.lookup(value) if value else (None, 0)
            if name is not None:
                objects.append((layer, value, name))
    return objects, list(case.layers)


def write_case(
    card_id: str, part: Part, case: Case, settings: Settings, ct_window, out_dir: Path
) -> list[dict]:
    """Store one 3D case's object extent and return its objects' rows (none: no object)."""
    objects, layers = case_objects(case, part, settings)
    if not objects:
        return []
    plane = plane_of(case.image, part.slice_axis)
    axis = PLANES[plane][0]
    occupied = np.flatnonzero(
        np.any(
            [lab.array.any(axis=tuple(a for a in range(3) if a != axis)) for lab in layers], axis=0
        )  # fmt: skip
    )
    lo, hi = int(occupied[0]), int(occupied[-1])
    mapping = window(case.image.array, settings.normalization, part.modality, ct_window)
    raw, (sy, sx) = _stack(case.image, plane, lo, hi)
    clip, rounding = settings.clip_percentiles, settings.rounding
    image = np.ascontiguousarray(
        np.stack([clip_percentiles(apply(s, mapping, rounding), clip, rounding) for s in raw])
    )
    labels = np.stack([_stack(lab, plane, lo, hi)[0] for lab in layers]).astype(np.uint16)
    sz = case.image.spacing[axis]  # the through-plane spacing of the slicing axis
    stem = case.case_id + (f"-{case.frame}" if case.frame else "")
    name = f"{part.name}--{stem}" if part.name else stem
    path = out_dir / f"{name}.h5"
    write_volume(path, StoredVolume(image, labels, (sz, sy, sx), lo))
    split = split_of(card_id, patient(part.cohort, case.case_id), settings.splits)
    rows = []
    for layer, value, obj in objects:
        present = np.flatnonzero((labels[layer] == value).any(axis=(1, 2)))
        suffix = f"@{layer}" if layer else ""
        rows.append({
            "object_id": f"{card_id}/{name}#{value}{suffix}", "dataset": card_id,
            "part": part.name, "cohort": part.cohort, "case": case.case_id, "split": split,
            "modality": part.modality, "object": obj, "target": f"{part.modality}/{obj}",
            "file": path.name, "layer": layer, "label": value, "z_first": int(present[0]),
            "z_last": int(present[-1]), "voxels": int(np.count_nonzero(labels[layer] == value)),
            "spacing_z": float(sz), "spacing_y": float(sy), "spacing_x": float(sx),
        })  # fmt: skip
    return rows


def store_volumes(card: Card, raw: Path, out_dir: Path, index: Path, settings: Settings) -> int:
    """Write every 3D case of a dataset and the objects' table; returns the object count."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for part in card.parts:
        if part.format["adapter"] in FLAT_ADAPTERS:
            continue
        ct_window, _ = part_ct_window(card.id, part.targets, settings.ct_windows)
        for case in reader_for(part)(raw, part, card.id):
            if not case.is_3d:
                continue
            found = write_case(card.id, part, case, settings, ct_window, out_dir)
            rows += found
            print(f"[{card.id}] volume {case.case_id}: {len(found)} objects", file=sys.stderr)
    table = pd.DataFrame(rows, columns=VOLUME_OBJECT_COLUMNS)
    with replacing(index) as tmp:
        table.to_parquet(tmp, index=False)
    return len(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_settings_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="the volumes folder")
    parser.add_argument("--index", type=Path, required=True, help="volumes.parquet")
    args = parser.parse_args(argv)
    card, settings = settings_from(args)
    n = store_volumes(card, args.raw, args.out, args.index, settings)
    print(f"[{card.id}] {n} 3D objects stored", file=sys.stderr)


if __name__ == "__main__":
    run_cli(main)
