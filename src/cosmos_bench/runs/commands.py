"""`cosmos-bench compare | export | leaderboard`: the runs commands (cosmos_bench.cli)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cosmos_bench.core.atomic import write_bytes

COMMANDS = ("compare", "export", "leaderboard")


def add_parsers(groups) -> None:
    """The three commands under the top-level parser's subcommands."""
    cmp = groups.add_parser("compare", help="two runs mask by mask: paired deltas with CIs")
    cmp.add_argument("a", type=Path, help="a run folder or bundle")
    cmp.add_argument("b", type=Path, help="a run folder or bundle")
    cmp.add_argument("--models", nargs=2, metavar=("A_MODEL", "B_MODEL"),
                     help="A's model against B's (default: each model both runs have)")  # fmt: skip
    cmp.add_argument("--allow-different-settings", action="store_true",
                     help="compare runs whose benchmark settings differ (printed)")  # fmt: skip
    cmp.add_argument("--out", type=Path, default=Path("comparison.csv"), help="the table (CSV)")
    cmp.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    cmp.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    exp = groups.add_parser("export", help="one run as a shareable bundle (scores, record, tables)")
    exp.add_argument("run", type=Path, help="the run's folder (or its results/)")
    exp.add_argument("--out", type=Path, help="the bundle (default: <run name>.zip here)")
    board = groups.add_parser("leaderboard", help="rank runs per target and strategy (HTML)")
    board.add_argument("runs", type=Path, nargs="+", help="run folders or bundles")
    board.add_argument("--out", type=Path, default=Path("leaderboard.html"))
    board.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    board.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")


def main(args: argparse.Namespace) -> None:
    from cosmos_bench.runs.record import load_run

    if args.group == "export":
        from cosmos_bench.runs.bundle import export

        run = load_run(args.run)
        out = export(args.run, args.out or Path(f"{run.name}.zip"))
        print(f"exported {run.name}: {len(run.scores)} scores, {len(run.tables)} tables -> {out}")
    elif args.group == "compare":
        from cosmos_bench.runs.compare import check_settings, compare

        a, b = load_run(args.a), load_run(args.b)
        for line in check_settings(a, b, args.allow_different_settings):
            print(f"WARNING: settings differ: {line}", file=sys.stderr)
        table = compare(a, b, tuple(args.models) if args.models else None, args.seed,
                        args.bootstrap)  # fmt: skip
        write_bytes(args.out, table.to_csv(index=False, float_format="%.6g").encode())
        pooled = table[table["target"] == "all"]
        print(f"{a.name} minus {b.name}, on the masks both scored (all targets pooled):")
        for r in pooled.itertuples():
            dice = f"{r.dice_difference:+.3f} [{r.dice_ci_low:+.3f}, {r.dice_ci_high:+.3f}]"
            nsd = f"{r.nsd_difference:+.3f} [{r.nsd_ci_low:+.3f}, {r.nsd_ci_high:+.3f}]"
            print(f"  {r.model_a} vs {r.model_b} {r.strategy} ({r.selection}): {r.n_masks} "
                  f"masks, Dice {r.dice_a:.3f} vs {r.dice_b:.3f}, difference {dice}; NSD "
                  f"difference {nsd}")  # fmt: skip
        print(f"{len(table)} rows (per target too) -> {args.out}")
    else:
        from cosmos_bench.runs.leaderboard import leaderboard

        runs = [load_run(path) for path in args.runs]
        out = leaderboard(runs, args.out, args.seed, args.bootstrap)
        print(f"leaderboard of {len(runs)} runs -> {out} (table: {out.with_suffix('.csv')})")
