"""3D propagation jobs: one (model, protocol, dataset) through every stored 3D object, scored in
3D (cosmos_bench.score.metrics3d) at the volume's spacing.

Each object is propagated from one box on the middle slice of its z-extent (cosmos_bench.
propagate) and scored against its ground truth over the whole stored stack: Dice, NSD at the
target's tolerance (resources/nsd_tolerances.yaml), HD95 in mm, and `lost_slices`, the slices
where the object is present but the prediction is empty. A stepwise protocol (`cvpr25`) also
records its DSC and NSD after every step (`dice_steps`, `nsd_steps`; empty for the others).
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cosmos_bench.catalog.finetune_ids import model_entry
from cosmos_bench.catalog.zoo import load_models, models_argument
from cosmos_bench.contracts import PROTOCOLS
from cosmos_bench.core.errors import ConfigError
from cosmos_bench.core.gpu import job_gpu, needs_gpu
from cosmos_bench.models import build, resolve_device
from cosmos_bench.propagation.cvpr25 import cvpr25_3d, step_scores
from cosmos_bench.propagation.native3d import METHODS, cvpr25_native3d, segments_volumes
from cosmos_bench.propagation.protocols import (
    CVPR25_PROTOCOL,
    NATIVE3D_PROTOCOL,
    PROTOCOL,
    SAM2_PROTOCOL,
    box_chain,
    lost_slices,
    sam2_propagate,
)
from cosmos_bench.score.metrics3d import score3d
from cosmos_bench.score.shard import load_tolerances
from cosmos_bench.store.volumes import read_volume

COLUMNS = [
    "object_id", "dataset", "cohort", "case", "split", "modality", "object", "target", "model",
    "protocol", "dice", "nsd", "nsd_tolerance_mm", "hd95_mm", "empty_prediction",
    "lost_slices", "fallbacks", "n_slices", "dice_steps", "nsd_steps",
]  # fmt: skip


def check_protocol(protocol: str, entry: dict, model: str) -> None:
    """box-chain needs box prompts; sam2-propagate needs SAM 2's video predictor; cvpr25 boxes
    and points; cvpr25-3d a model that segments volumes (propagation.native3d.METHODS)."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown 3D protocol {protocol!r}", fix=f"choose from {PROTOCOLS}")
    if protocol == SAM2_PROTOCOL and entry["adapter"] != "sam2":
        raise ConfigError(f"{model}: sam2-propagate needs a SAM 2 model", fix="use box-chain")
    if protocol == PROTOCOL and "box" not in entry["prompts"]:
        raise ConfigError(f"{model}: box-chain needs a model that takes boxes")
    if protocol == CVPR25_PROTOCOL and not {"box", "point"} <= set(entry["prompts"]):
        raise ConfigError(f"{model}: cvpr25 needs a model that takes boxes and points",
                          fix="use box-chain")  # fmt: skip
    if protocol == NATIVE3D_PROTOCOL and not _segments_volumes(entry, model):
        raise ConfigError(f"{model}: cvpr25-3d needs a model that segments whole volumes "
                          f"(its class has {', '.join(METHODS)})",
                          fix="use cvpr25, the protocol for 2D models")  # fmt: skip


def _segments_volumes(entry: dict, model: str) -> bool:
    """Whether the entry's adapter class has the native 3D methods (no built-in one has)."""
    from cosmos_bench.catalog.zoo import is_plugin
    from cosmos_bench.models.plugins import plugin_class

    return is_plugin(entry["adapter"]) and segments_volumes(plugin_class(entry["adapter"], model))


def video_predictor(entry: dict, weights: Path | None, device: torch.device):
    """SAM 2's video predictor for the entry's architecture, Hydra `overrides` (MedSAM2's 512 px
    config) and weights (random init: None)."""
    from sam2.build_sam import build_sam2_video_predictor

    ckpt = None if weights is None else str(weights)
    overrides = list(entry.get("overrides", ()))
    return build_sam2_video_predictor(
        entry["architecture"], ckpt, device=str(device), hydra_overrides_extra=overrides
    )


def propagate_objects(
    run, objects: pd.DataFrame, volumes: Path, tolerances, model_id: str, protocol: str
) -> pd.DataFrame:
    """Run `run(images, mask, embeddings)` (a protocol bound to its models) on every object and
    score it; `embeddings` is shared by the objects of one volume, each slice encoded once."""
    rows = []
    for file, group in objects.groupby("file", sort=True):
        volume = read_volume(volumes / file)
        images, labels, spacing = volume.image, volume.labels, volume.spacing
        embeddings: dict = {}
        for obj in group.itertuples():
            truth = labels[obj.layer] == obj.label
            start = time.perf_counter()
            result = run(images, truth, embeddings)
            seconds = time.perf_counter() - start
            tolerance = tolerances.of(obj.target)
            scores = score3d(result.prediction, truth, spacing, tolerance)
            dice_steps, nsd_steps = step_scores(result.steps, truth, spacing)
            rows.append({
                "object_id": obj.object_id, "dataset": obj.dataset, "cohort": obj.cohort,
                "case": obj.case,
                "split": obj.split, "modality": obj.modality, "object": obj.object,
                "target": obj.target, "model": model_id, "protocol": protocol,
                "dice": scores.dice, "nsd": scores.nsd, "nsd_tolerance_mm": tolerance,
                "hd95_mm": scores.hd95_mm, "empty_prediction": scores.empty_prediction,
                "lost_slices": lost_slices(result.prediction, truth),
                "fallbacks": result.fallbacks, "n_slices": obj.z_last - obj.z_first + 1,
                "dice_steps": dice_steps, "nsd_steps": nsd_steps,
            })  # fmt: skip
            print(f"[{model_id}] {protocol} {obj.object_id}: 3D Dice {scores.dice:.4f}, "
                  f"{seconds:.1f} s", file=sys.stderr)  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--index", type=Path, required=True, help="volumes.parquet")
    parser.add_argument("--volumes", type=Path, required=True, help="the volumes folder")
    parser.add_argument("--tolerances", type=Path, required=True)
    parser.add_argument("--targets", nargs="*", default=[])
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    models_argument(parser)
    args = parser.parse_args(argv)
    entry = model_entry(load_models(args.root, args.models_files), args.model)
    check_protocol(args.protocol, entry, args.model)
    with job_gpu(args.device) if needs_gpu(entry) else nullcontext():
        torch.manual_seed(args.seed)
        torch.set_num_threads(args.threads)
        device = resolve_device(args.device)
        model = build(entry, args.weights, device, args.seed)
        if args.protocol == SAM2_PROTOCOL:
            video = video_predictor(entry, args.weights, device)

            def run(images: np.ndarray, truth: np.ndarray, embeddings: dict):
                return sam2_propagate(model, video, images, truth)

        elif args.protocol == NATIVE3D_PROTOCOL:

            def run(images: np.ndarray, truth: np.ndarray, embeddings: dict):
                return cvpr25_native3d(model, images, truth)

        elif args.protocol == CVPR25_PROTOCOL:

            def run(images: np.ndarray, truth: np.ndarray, embeddings: dict):
                return cvpr25_3d(model, images, truth, embeddings)

        else:

            def run(images: np.ndarray, truth: np.ndarray, embeddings: dict):
                return box_chain(model, images, truth, embeddings)

        objects = pd.read_parquet(args.index)
        objects = objects[objects.split.isin(args.splits)]
        if args.targets:
            objects = objects[objects.target.isin(args.targets)]
        table = propagate_objects(
            run, objects, args.volumes, load_tolerances(args.tolerances), args.model, args.protocol
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    table.to_parquet(tmp, index=False)
    tmp.replace(args.out)
    print(f"[{args.model}] {args.protocol}: {len(table)} objects -> {args.out}", file=sys.stderr)
