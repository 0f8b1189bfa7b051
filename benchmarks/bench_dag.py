"""Planning cost of the full COSMOS config: wall time of `snakemake -n` and its job count.

Before harmonization the plan holds download, unpack and harmonize jobs only (harmonize is a
checkpoint). The full DAG appears once every dataset is harmonized, so a second plan is made on
a work folder where every dataset looks harmonized: empty download manifests, raw folders,
indexes and shard files with the shard count the full rebuild will have (COSMOS 1050K's
1,050,311 images at `harmonize.images_per_shard` per shard, plus at most one partial shard per
dataset; how they split between datasets does not change the plan's size). Nothing runs: only
Snakemake's planning is timed. Baseline, in the same run: planning the two-dataset demo in the
same harmonized state. Also timed: planning a single-dataset rerun (`dataset_{id}` target and
`--config datasets=[id]`).

    .venv/bin/python benchmarks/bench_dag.py
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from cosmos_bench.catalog.selection import resolve

ROOT = Path(__file__).resolve().parents[1]
COSMOS_IMAGES = 1_050_311


def _copy_workflow(dest: Path) -> Path:
    for sub in ("workflow", "config", "resources", "envs"):
        shutil.copytree(ROOT / sub, dest / sub)
    return dest


def _plan(work: Path, *args: str) -> tuple[float, int, dict[str, int]]:
    """Seconds, total jobs and jobs per rule of one dry run."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "2", *args],
        cwd=work, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"snakemake -n {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    text = done.stdout + done.stderr
    block = text[text.index("Job stats:") :].split("\n\n")[0]
    per_rule = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\S+)\s+(\d+)$", block, re.M)
        if m.group(1) != "total"
    }
    return seconds, sum(per_rule.values()), per_rule


def _fake_harmonized(work: Path, datasets: list[str], models: dict, shards: int) -> None:
    """Outputs of download, unpack and harmonize (and weights), older first, as after a run."""
    results = work / "results"
    per_dataset = [shards // len(datasets) + (i < shards % len(datasets))
                   for i in range(len(datasets))]  # fmt: skip
    stamp = time.time() - 3600
    for dataset, count in zip(datasets, per_dataset, strict=True):
        files = [results / "downloads" / dataset / "SHA256SUMS"]
        raw = results / "raw" / dataset
        raw.mkdir(parents=True, exist_ok=True)
        harmonized = results / "harmonized" / dataset
        files.append(harmonized / "index.parquet")
        files += [harmonized / "shards" / f"shard-{k:05d}.h5" for k in range(max(1, count))]
        for i, path in enumerate(files):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
            os.utime(path, (stamp + 10 * (i > 0), stamp + 10 * (i > 0)))
        os.utime(raw, (stamp + 5, stamp + 5))
        os.utime(harmonized / "shards", (stamp + 10, stamp + 10))
    for model, entry in models.items():
        if "weights" in entry:
            path = results / "weights" / f"{model}.pth"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
            os.utime(path, (stamp, stamp))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", default="kits19", help="dataset of the single-dataset rerun")
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config.update(yaml.safe_load((ROOT / "config" / "cosmos.yaml").read_text()))
    config.setdefault("harmonize", {})
    cards, models = resolve(config, ROOT)
    per_shard = config["harmonize"]["images_per_shard"]
    datasets = list(cards)
    shards = math.ceil(COSMOS_IMAGES / per_shard) + len(datasets)  # at most one partial each
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"config/cosmos.yaml: {len(datasets)} datasets, {len(models)} models, "
          f"{per_shard} images per shard -> at most {shards} shards")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        fresh = _copy_workflow(Path(tmp) / "fresh")
        t, n, rules = _plan(fresh, "--configfile", "config/cosmos.yaml")
        print(f"fresh plan (before harmonization): {t:.1f} s, {n} jobs {rules}")

        demo = _copy_workflow(Path(tmp) / "demo")
        demo_config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
        demo_shards = 2 * math.ceil(100 / demo_config["harmonize"]["images_per_shard"])
        _fake_harmonized(demo, list(demo_config["datasets"]), models, demo_shards)
        t_demo, n_demo, _ = _plan(demo)
        print(f"baseline: demo plan (2 datasets, harmonized): {t_demo:.1f} s, {n_demo} jobs")

        full = _copy_workflow(Path(tmp) / "full")
        _fake_harmonized(full, datasets, models, shards)
        t_full, n_full, rules = _plan(full, "--configfile", "config/cosmos.yaml")
        print(f"full plan (53-dataset config, harmonized): {t_full:.1f} s, {n_full} jobs {rules}")
        print(
            f"  = {t_full / t_demo:.2f}x the demo plan's time for {n_full / n_demo:.0f}x its jobs"
        )

        t_one, n_one, _ = _plan(
            full, f"dataset_{args.single}", "--configfile", "config/cosmos.yaml"
        )
        print(f"single-dataset target dataset_{args.single}: {t_one:.1f} s, {n_one} jobs")
        t_cfg, n_cfg, _ = _plan(
            full, "--configfile", "config/cosmos.yaml", "--config", f"datasets=[{args.single}]"
        )
        print(f"single-dataset rerun --config datasets=[{args.single}]: {t_cfg:.1f} s, "
              f"{n_cfg} jobs")  # fmt: skip


if __name__ == "__main__":
    main()
