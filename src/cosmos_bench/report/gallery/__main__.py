"""`python -m cosmos_bench.report.gallery`: the gallery rule (report.gallery.job)."""

from cosmos_bench.core.errors import run_cli
from cosmos_bench.report.gallery.job import main

run_cli(main)
