"""Join the shares of a dataset harmonized by several jobs (`harmonize.case_jobs`) into the
one index and shard folder every later stage reads.

Each share's shards are renumbered after the previous shares' (their rows within a shard
stay), linked into the dataset's folder (hard links: no copy; a copy where the file system
refuses them), and the index rows follow, share by share. The summary's counts are summed.
Written like harmonize itself: shards into `<shards>.partial`, renamed when complete, the
index last, so a killed merge leaves no index behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

from cosmos_bench.core.errors import CosmosError
from cosmos_bench.store.index import read_index, read_summary, write_index
from cosmos_bench.store.shards import fresh_outputs, shard_name


def _place(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def merge_shares(
    shares: list[tuple[Path, Path]], index_path: Path, shard_dir: Path, dataset: str
) -> pd.DataFrame:
    """Join (index, shard folder) of every share, in share order; return the joined index."""
    partial = fresh_outputs(index_path, shard_dir)
    frames, unmapped, shrunk, offset = [], Counter(), 0, 0
    for share_index, share_shards in shares:
        index = read_index(share_index)
        summary = read_summary(share_index)
        unmapped.update(summary.get("unmapped_structures", {}))
        shrunk += int(summary.get("shrunk_away", 0))
        numbers = sorted(int(k) for k in index["shard"].unique())
        if numbers != list(range(len(numbers))):
            raise CosmosError(
                f"share index {share_index} names shards {numbers}, not 0..{len(numbers) - 1}",
                dataset=dataset,
                path=str(share_shards),
                fix="rerun that share's harmonize job (delete its folder)",
            )
        for k in numbers:
            _place(share_shards / shard_name(k), partial / shard_name(offset + k))
        if len(index):  # a share that holds no case adds nothing
            frames.append(index.assign(shard=index["shard"] + offset))
        offset += len(numbers)
    if not frames:
        shutil.rmtree(partial)
        raise CosmosError(
            f"no mask survived harmonization in any of its {len(shares)} shares",
            dataset=dataset,
            fix="check the card's labels map and format patterns against the files",
        )
    merged = pd.concat(frames, ignore_index=True)
    partial.rename(shard_dir)
    summary = {"unmapped_structures": dict(sorted(unmapped.items())), "shrunk_away": shrunk}
    write_index(merged, index_path, summary)
    print(
        f"[{dataset}] {len(shares)} shares -> {merged.uid.nunique()} images, {len(merged)} "
        f"masks, {offset} shards",
        file=sys.stderr,
    )
    return merged


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--share-indexes", type=Path, nargs="+", required=True)
    parser.add_argument("--share-shards", type=Path, nargs="+", required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--shards", type=Path, required=True)
    args = parser.parse_args(argv)
    if len(args.share_indexes) != len(args.share_shards):
        parser.error("give one shard folder per share index")
    shares = list(zip(args.share_indexes, args.share_shards, strict=True))
    merge_shares(shares, args.index, args.shards, args.dataset)
