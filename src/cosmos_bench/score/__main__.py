"""`python -m cosmos_bench.score {shard,gather}`: the score and gather_scores rules."""

from cosmos_bench.core.errors import run_cli
from cosmos_bench.score.job import main

run_cli(main)
