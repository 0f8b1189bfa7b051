"""`python -m cosmos_bench.propagation`: the propagate rule (cosmos_bench.propagation.dataset)."""

from cosmos_bench.core.errors import run_cli
from cosmos_bench.propagation.dataset import main

run_cli(main)
