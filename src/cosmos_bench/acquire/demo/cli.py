"""`python -m cosmos_bench.acquire.demo {ct,endo} OUT`: how resources/demo/ was made."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from cosmos_bench.acquire.demo.ct import build_demo_ct
from cosmos_bench.acquire.demo.endo import build_demo_endo
from cosmos_bench.core.hashing import sha256_file

# --------------------------------------------------------------------------- CLI

_BUILDERS: dict[str, Callable[..., Path]] = {"ct": build_demo_ct, "endo": build_demo_endo}


def _positive(text: str) -> int:
    """argparse type: an archive with zero cases would pass its checksum yet hold nothing."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m cosmos_bench.acquire.demo {ct,endo} OUT [--seed N] [--count N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m cosmos_bench.acquire.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("kind", choices=sorted(_BUILDERS))
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=_positive, default=None, help="cases (ct) or images (endo)")
    args = parser.parse_args(argv)
    count = (
        {} if args.count is None else {"n_cases" if args.kind == "ct" else "n_images": args.count}
    )
    out = _BUILDERS[args.kind](args.out, seed=args.seed, **count)
    print(f"wrote {out} ({out.stat().st_size} bytes, sha256 {sha256_file(out)})")
