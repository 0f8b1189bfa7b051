"""cosmos-bench: rebuild COSMOS 1050K from public sources and benchmark promptable segmenters.

The workflow (workflow/) runs one sub-package per stage: `acquire` (download, unpack, weights),
`harmonize`, `infer`, `score`, `report`, and the studies `finetune` and `propagation`;
`catalog` reads the config, cards and model zoo, `contracts` holds the files' schemas, `core`
the small shared parts. For scripts, the names below are importable from `cosmos_bench`
itself; they load lazily, so `import cosmos_bench` costs nothing until one is used.

    import cosmos_bench as cb
    index = cb.read_index(path)                       # one row per mask
    with cb.ShardReader(shard) as images: ...         # images and masks by row
    entry = cb.load_models(root)["litemedsam"]                  # config/models.yaml
    model = cb.build_model(entry, weights, cb.resolve_device("auto"), seed=0)
    [answer] = model.decode(model.embed(image), [cb.make_prompt("S5", mask)])
    cb.score(answer.masks[0], mask, spacing, tolerance_mm=2.0).dice

README.md ("Scripting") has a complete example on the demo's results.
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {  # public name -> (module, attribute)
    "Card": ("cosmos_bench.catalog", "Card"),
    "load_card": ("cosmos_bench.catalog", "load_card"),
    "load_ontology": ("cosmos_bench.catalog", "load_ontology"),
    "load_models": ("cosmos_bench.catalog", "load_models"),
    "all_cards": ("cosmos_bench.catalog", "all_cards"),
    "resolve": ("cosmos_bench.catalog", "resolve"),
    "read_index": ("cosmos_bench.store.index", "read_index"),
    "ShardReader": ("cosmos_bench.store.shards", "ShardReader"),
    "shard_name": ("cosmos_bench.store.shards", "shard_name"),
    "build_model": ("cosmos_bench.models", "build"),
    "resolve_device": ("cosmos_bench.models", "resolve_device"),
    "PromptableModel": ("cosmos_bench.models", "PromptableModel"),
    "Candidates": ("cosmos_bench.models", "Candidates"),
    "Prompt": ("cosmos_bench.core.prompt", "Prompt"),
    "make_prompt": ("cosmos_bench.core.strategies", "make_prompt"),
    "PAPER_STRATEGIES": ("cosmos_bench.core.strategies", "PAPER_STRATEGIES"),
    "score": ("cosmos_bench.score.metrics", "score"),
    "Scores": ("cosmos_bench.score.metrics", "Scores"),
    "dice": ("cosmos_bench.score.metrics", "dice"),
    "score3d": ("cosmos_bench.score.metrics3d", "score3d"),
    "rle_encode": ("cosmos_bench.core.rle", "encode"),
    "rle_decode": ("cosmos_bench.core.rle", "decode"),
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    """Import the module of a public name on first use (PEP 562): a download job that imports
    cosmos_bench.acquire must not pay for PyTorch."""
    if name not in _API:
        raise AttributeError(f"module 'cosmos_bench' has no attribute {name!r}")
    module, attribute = _API[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
