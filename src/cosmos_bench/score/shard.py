"""Scoring for one (model, dataset, shard): metrics per mask, strategy, repeat and selection.

Selection rules over a prompt's candidates:
- `single` when the model returned one mask;
- otherwise both `oracle` (the candidate with the highest Dice against the ground truth, the
  paper's rule) and `score` (the candidate the model itself rates best, what a user gets).

Every candidate gets its Dice, because selection needs it. The other metrics
(cosmos_bench.score.metrics) and the prediction's shape (score.shape, for the failure taxonomy)
are computed only for the chosen candidates, and once for a candidate that both rules choose;
each row names its `candidate`, so the report reads the chosen mask without choosing again. The
object's factors (score.factors) are computed once per mask.

An image without a known spacing (NaN in the index) is measured at 1 mm per pixel, so its
distances and tolerance count in pixels; `spacing_known` is false on its rows.

Resolution (score.resolution): `native` (the paper) scores a mask of an image that the
longest-side cap shrank against its ground truth at the source's size, with the prediction
upsampled there (nearest neighbour, cosmos_bench.core.resample) and the source's spacing;
the object factors are measured there too. `stored` scores everything at the stored size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from cosmos_bench.catalog.schema import read_yaml
from cosmos_bench.contracts import (
    RESOLUTIONS,
    SCORE_SCHEMA,
    SCORES_VERSION,
    SCORES_VERSION_KEY,
    at_native_size,
)
from cosmos_bench.core import rle
from cosmos_bench.core.errors import ConfigError
from cosmos_bench.core.prompt import tight_box
from cosmos_bench.core.resample import resize_nearest
from cosmos_bench.core.tables import write_table
from cosmos_bench.score import medsam, metrics
from cosmos_bench.score.factors import Factors, object_factors
from cosmos_bench.score.shape import Shape, shape_of
from cosmos_bench.store.shards import ShardReader
from cosmos_bench.store.truth import reference_mask

META = ["uid", "dataset", "cohort", "case", "split", "modality", "object", "target"]
KEYS = ["mask_id", "strategy", "repeat", "click", "selection"]
SCORE_COLUMNS = [f.name for f in fields(metrics.Scores)]
EXTRA = ["nsd_tolerance_mm", "nsd_medsam", "spacing_known"]
SHAPE_COLUMNS = [f.name for f in fields(Shape)]
FACTOR_COLUMNS = [f.name for f in fields(Factors)]


@dataclass(frozen=True)
class Tolerances:
    """NSD tolerance in mm per target, with a default (resources/nsd_tolerances.yaml)."""

    default_mm: float = 2.0
    targets: dict[str, float] = field(default_factory=dict)

    def of(self, target: str) -> float:
        return self.targets.get(target, self.default_mm)


def load_tolerances(path: Path) -> Tolerances:
    raw = read_yaml(path) or {}
    values = {"default_mm": raw.get("default_mm", 2.0), **(raw.get("targets") or {})}
    bad = {k: v for k, v in values.items() if not (isinstance(v, int | float) and v > 0)}
    if bad:
        raise ConfigError(
            f"NSD tolerances must be positive numbers (mm), got {bad}",
            path=str(path),
            fix="write `target: tolerance_mm`, e.g. `CT/liver: 2.0`",
        )
    targets = {k: float(v) for k, v in (raw.get("targets") or {}).items()}
    return Tolerances(float(values["default_mm"]), targets)


def select(group: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """The candidate rows each selection rule keeps for one (mask, strategy, repeat).

    A model that answers with several candidates gets both rules even when inference stored
    only one (both rules picked it): `n_candidates` is what the model returned."""
    if group.n_candidates.iloc[0] == 1:
        return [("single", group.iloc[0])]
    by_score = group.model_score.fillna(-np.inf).to_numpy().argmax()
    return [("oracle", group.loc[group.dice.idxmax()]), ("score", group.iloc[by_score])]


def _spacing(row: pd.Series, scale: float = 1.0) -> tuple[tuple[float, float], bool]:
    """(y, x) mm per pixel of the scored mask: `scale` = stored / scored size."""
    sy, sx = float(row["spacing_y"]) * scale, float(row["spacing_x"]) * scale
    known = math.isfinite(sy) and math.isfinite(sx) and sy > 0 and sx > 0
    return ((sy, sx) if known else (1.0, 1.0)), known


def score_shard(
    predictions: pd.DataFrame,
    index: pd.DataFrame,
    shard: Path,
    model: str,
    tolerances: Tolerances | None = None,
    modalities: dict[str, int] | None = None,
    resolution: str = "native",
) -> pd.DataFrame:
    """One row per (mask, strategy, repeat, selection) with all metrics and factors."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}; choose from {RESOLUTIONS}")
    tolerances = tolerances or Tolerances()
    modalities = modalities or {}
    masks = index.set_index("mask_id")
    where = ["row", "layer", "label", "target", "modality", "spacing_y", "spacing_x", "scale"]
    cand = predictions.drop(columns=where, errors="ignore").join(masks[where], on="mask_id")
    cand = cand.sort_values(
        ["row", "mask_id", "strategy", "repeat", "click", "candidate"],
        kind="stable",
        ignore_index=True,
    )
    prompt = cand.groupby(["mask_id", "strategy", "repeat", "click"], sort=False).ngroup()
    prompt = prompt.to_numpy()
    bounds = np.flatnonzero(np.diff(prompt, prepend=-1, append=-2)).tolist()  # prompt runs
    cand["dice"] = np.nan

    rows: list[dict] = []
    factor_rows: dict[str, dict] = {}
    image_row, image = -1, np.zeros((0, 0), np.uint8)
    mask_id = None
    with ShardReader(shard) as reader:
        for s, e in zip(bounds[:-1], bounds[1:], strict=True):
            first = cand.iloc[s]
            if first["mask_id"] != mask_id:  # a new ground truth: its boundary and factors once
                mask_id = first["mask_id"]
                if first["row"] != image_row:
                    image_row = int(first["row"])
                    image = reader.image(image_row)
                layer, label = int(first["layer"]), int(first["label"])
                gt = reference_mask(reader, image_row, layer, label, first["scale"], resolution)
                scale = float(first["scale"]) if at_native_size(resolution, first["scale"]) else 1.0
                spacing, known = _spacing(first, scale)
                boundary = metrics.Boundary.of(gt, spacing)
                box = tight_box(gt)
                tolerance = tolerances.of(first["target"])
                real = (float(first["spacing_y"]) * scale, float(first["spacing_x"]) * scale)
                code = modalities.get(first["modality"], -1)
                scene = resize_nearest(image, gt.shape)
                factor_rows[mask_id] = asdict(object_factors(scene, gt, real, code))
            stored = (int(first["height"]), int(first["width"]))
            preds = [
                resize_nearest(rle.decode(np.asarray(r), stored), gt.shape)
                for r in cand.rle.iloc[s:e]
            ]
            cand.iloc[s:e, cand.columns.get_loc("dice")] = [metrics.dice(p, gt) for p in preds]
            scored: dict[int, metrics.Scores] = {}
            shapes: dict[int, Shape] = {}
            for rule, chosen in select(cand.iloc[s:e]):
                k = int(chosen.name) - s
                if k not in scored:
                    scored[k] = metrics.score(preds[k], gt, spacing, tolerance, boundary)
                    shapes[k] = shape_of(preds[k], box)
                rows.append(
                    {
                        "mask_id": mask_id,
                        "strategy": first["strategy"],
                        "repeat": first["repeat"],
                        "click": first["click"],
                        "selection": rule,
                        "candidate": int(chosen["candidate"]),
                        **asdict(scored[k]),
                        **asdict(shapes[k]),
                        "nsd_tolerance_mm": tolerance,
                        "nsd_medsam": medsam.slab_nsd(preds[k], gt),
                        "spacing_known": known,
                    }
                )
    out = pd.DataFrame(rows, columns=[*KEYS, "candidate", *SCORE_COLUMNS, *SHAPE_COLUMNS, *EXTRA])
    factors = pd.DataFrame.from_dict(factor_rows, orient="index", columns=FACTOR_COLUMNS)
    out = out.join(masks[META], on="mask_id").join(factors, on="mask_id").assign(model=model)
    out["nsd_medsam"] = medsam.gate(out)
    return out.sort_values(KEYS, ignore_index=True)[SCORE_SCHEMA.names]


def gather(paths: list[Path], out: Path) -> pd.DataFrame:
    """One table per (model, dataset) from its shards: what the report and a user read."""
    frames = [pq.read_table(p).to_pandas() for p in sorted(paths)]
    scores = pd.concat(frames, ignore_index=True).sort_values(KEYS, ignore_index=True)
    write_table(scores, out, SCORE_SCHEMA, {SCORES_VERSION_KEY: SCORES_VERSION})
    return scores
