"""The harmonize job's command line (`python -m cosmos_bench.harmonize`): its options, shared
with the 3D volume store (one normalization for both), and the Settings they name;
`python -m cosmos_bench.harmonize merge ...` joins a split dataset's shares (harmonize.merge)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cosmos_bench.catalog.cards import Card, cards_argument, load_card, load_ontology
from cosmos_bench.catalog.schema import read_yaml
from cosmos_bench.harmonize import merge
from cosmos_bench.harmonize.dataset import Settings, harmonize
from cosmos_bench.harmonize.masks import FILTERS
from cosmos_bench.harmonize.normalize import GREY_2D, PRESETS, ROUNDING
from cosmos_bench.harmonize.splits import SplitRatios
from cosmos_bench.store.shards import CODECS


def ct_window_table(root: Path, overrides: str) -> dict:
    """resources/ct_windows.yaml, updated with the config's `harmonize.ct_windows` (JSON)."""
    table = read_yaml(root / "resources" / "ct_windows.yaml")
    table.update(json.loads(overrides))
    return table


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """The Settings options, shared by harmonize and the 3D volume store (one normalization)."""
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--raw", type=Path, required=True, help="the unpacked source folder")
    parser.add_argument("--normalization", choices=PRESETS, default="paper")
    parser.add_argument("--ct-windows", default="{}", help="JSON: target/dataset -> [L, W]")
    parser.add_argument("--mask-filter", choices=FILTERS, default="paper")
    parser.add_argument("--min-mask-pixels", type=int, default=50)
    parser.add_argument("--components", nargs="*", default=[], help="objects to split")
    parser.add_argument(
        "--clip-percentiles", type=float, nargs="*", default=[],
        help="LO HI: clip each image to these percentiles after normalization (none: no clip)",
    )  # fmt: skip
    parser.add_argument(
        "--grey-2d", choices=GREY_2D, default="stretch",
        help="an 8-bit grey 2D image: min-max stretched (the default) or kept as it is",
    )  # fmt: skip
    parser.add_argument(
        "--rounding", choices=ROUNDING, default="round",
        help="float to uint8: round to the nearest level, or truncate (the authors' np.uint8)",
    )  # fmt: skip
    parser.add_argument(
        "--instance-masks", action="store_true",
        help="keep the card's instances as separate masks (default: one mask per category)",
    )  # fmt: skip
    parser.add_argument("--max-side", type=int, default=1024)
    parser.add_argument("--images-per-shard", type=int, default=256)
    parser.add_argument("--codec", choices=CODECS, default="rowdelta")
    parser.add_argument(
        "--splits", type=float, nargs=3, default=(0.7, 0.1, 0.2), help="train val test ratios"
    )
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the split hash")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the workflow's folder")
    cards_argument(parser)


def share_arg(text: str) -> tuple[int, int]:
    """`K/N` with 0 <= K < N."""
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not K/N") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"share {text!r}: K must be in 0..N-1")
    return k, n


def settings_from(args: argparse.Namespace) -> tuple[Card, Settings]:
    """The dataset's card and the Settings the arguments name."""
    card = load_card(args.root, args.dataset, load_ontology(args.root), args.cards_dirs)
    settings = Settings(
        normalization=args.normalization,
        ct_windows=ct_window_table(args.root, args.ct_windows),
        mask_filter=args.mask_filter,
        min_mask_pixels=args.min_mask_pixels,
        components=frozenset(args.components),
        clip_percentiles=tuple(args.clip_percentiles) or None,
        grey_2d=args.grey_2d,
        rounding=args.rounding,
        instance_masks=args.instance_masks,
        max_side=args.max_side,
        images_per_shard=args.images_per_shard,
        codec=args.codec,
        splits=SplitRatios(*args.splits, seed=args.split_seed),
    )
    return card, settings


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["merge"]:  # the shares of a dataset split by harmonize.case_jobs
        merge.main(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    add_settings_arguments(parser)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--shards", type=Path, required=True)
    parser.add_argument(
        "--share", type=share_arg, default=(0, 1), metavar="K/N",
        help="harmonize only share K of N of the cases (harmonize.case_jobs)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    card, settings = settings_from(args)
    harmonize(card, args.raw, args.index, args.shards, settings, args.share)
