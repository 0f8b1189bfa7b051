"""`python -m cosmos_bench.infer`: the infer rule (cosmos_bench.infer.job)."""

from cosmos_bench.core.errors import run_cli
from cosmos_bench.infer.job import main

run_cli(main)
