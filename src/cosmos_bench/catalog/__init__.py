"""The run's catalog: the validated config, its dataset cards, the model zoo and the ontology.

Everything a stage needs to know about a dataset or model comes from here, so a mistake in a
card or the config is found once, before any job runs, with a message that names the file.
"""

from cosmos_bench.catalog.cards import (
    PAPER_COUNTS,
    PART_KEYS,
    Card,
    Part,
    all_cards,
    cosmos_ids,
    counts,
    load_card,
    load_ontology,
)
from cosmos_bench.catalog.schema import SCHEMAS, read_yaml, validate
from cosmos_bench.catalog.selection import resolve, select_cards, split_run
from cosmos_bench.catalog.zoo import load_models

__all__ = [
    "PAPER_COUNTS",
    "PART_KEYS",
    "SCHEMAS",
    "Card",
    "Part",
    "all_cards",
    "cosmos_ids",
    "counts",
    "load_card",
    "load_models",
    "load_ontology",
    "read_yaml",
    "resolve",
    "select_cards",
    "split_run",
    "validate",
]
