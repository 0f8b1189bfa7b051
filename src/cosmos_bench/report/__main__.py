"""`python -m cosmos_bench.report`: the report rule (cosmos_bench.report.build)."""

from cosmos_bench.core.errors import run_cli
from cosmos_bench.report.build import main

run_cli(main)
