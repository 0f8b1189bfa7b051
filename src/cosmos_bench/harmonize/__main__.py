"""`python -m cosmos_bench.harmonize`: the harmonize rule (cosmos_bench.harmonize.dataset)."""

from cosmos_bench.core.errors import run_cli
from cosmos_bench.harmonize.dataset import main

run_cli(main)
