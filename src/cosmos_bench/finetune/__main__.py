"""`python -m cosmos_bench.finetune {embed,train}`: the embed_cache and train rules."""

from cosmos_bench.core.errors import run_cli
from cosmos_bench.finetune.job import main

run_cli(main)
