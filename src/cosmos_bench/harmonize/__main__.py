"""`python -m cosmos_bench.harmonize`: the harmonize rule (cosmos_bench.harmonize.arguments)."""

from cosmos_bench.core.errors import run_cli
from cosmos_bench.harmonize.arguments import main

run_cli(main)
