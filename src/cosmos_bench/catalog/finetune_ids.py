"""Fine-tuned models as model ids: `base+arm@subset`, e.g. `litemedsam+decoder@common`.

A fine-tuning run is named by the model it starts from, the arm (what is trained) and the
object subset it trains on. The id is a model like any other: its zoo entry is the base's (same
adapter, convention and prompts) with the run's weights, so inference, scoring and the report
treat it unchanged.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cosmos_bench.catalog.schema import read_yaml
from cosmos_bench.core.errors import ConfigError

#: decoder: the paper's arm (image and prompt encoders frozen); lora: low-rank adapters on the
#: image encoder's attention, decoder frozen; both: adapters and the decoder
ARMS = ("decoder", "lora", "both")
#: adapters whose networks have SAM v1's image encoder / prompt encoder / mask decoder split
TRAINABLE_ADAPTERS = ("litemedsam", "sam", "medsam")
#: the default subset, written out in resources/finetune_objects.yaml
DEFAULT_SUBSET = "common"
#: an object is "common" when at least this many COSMOS datasets annotate it
COMMON_MIN_DATASETS = 2
ID_PATTERN = re.compile(r"^(?P<base>[A-Za-z0-9._-]+)\+(?P<arm>[a-z]+)@(?P<subset>[A-Za-z0-9_-]+)$")


@dataclass(frozen=True)
class RunId:
    base: str
    arm: str
    subset: str

    def __str__(self) -> str:
        return f"{self.base}+{self.arm}@{self.subset}"


def is_finetuned(model: str) -> bool:
    return ID_PATTERN.match(model) is not None


def parse(model: str) -> RunId:
    """Split a fine-tuned model id; a malformed one is a config error that shows the form."""
    match = ID_PATTERN.match(model)
    if match is None or match["arm"] not in ARMS:
        raise ConfigError(
            f"{model!r} is not a fine-tuning run id",
            fix=f"write base+arm@subset with an arm from {', '.join(ARMS)}, "
            "e.g. litemedsam+decoder@common",
        )
    return RunId(match["base"], match["arm"], match["subset"])


def run_weights(model: str) -> str:
    """Where the train rule writes a run's weights (results-relative to the workflow)."""
    return f"results/finetune/{model}/weights.pth"


def model_entry(zoo: dict[str, dict], model: str) -> dict:
    """A model's zoo entry; a fine-tuned id gets its base's entry with the run's weights."""
    if not is_finetuned(model):
        if model not in zoo:
            raise ConfigError(f"unknown model {model!r}", fix=f"choose from {', '.join(zoo)}")
        return zoo[model]
    run = parse(model)
    base = zoo.get(run.base)
    if base is None:
        raise ConfigError(f"{model}: unknown base model {run.base!r}", fix="see config/models.yaml")
    if base["adapter"] not in TRAINABLE_ADAPTERS or "weights" not in base:
        raise ConfigError(
            f"{model}: {run.base} cannot be fine-tuned (adapter {base['adapter']})",
            fix=f"fine-tune a model with adapter {', '.join(TRAINABLE_ADAPTERS)}",
        )
    return {
        **base,
        "description": f"{run.base} fine-tuned ({run.arm} arm) on the {run.subset} subset",
        "weights": {"file": run_weights(model)},
        "finetuned": {"base": run.base, "arm": run.arm, "subset": run.subset},
    }


def common_objects(card_objects: Iterable[Iterable[str]], min_datasets: int) -> list[str]:
    """Objects annotated by at least `min_datasets` datasets, most shared first, then by name."""
    counts = Counter(o for objects in card_objects for o in set(objects))
    kept = [(n, o) for o, n in counts.items() if n >= min_datasets]
    return [o for _, o in sorted(kept, key=lambda item: (-item[0], item[1]))]


def subset_objects(subset: str, subsets: dict[str, list[str]], root: Path) -> list[str]:
    """A subset's objects: the config's named list, or `common` from resources/."""
    if subset in subsets:
        return sorted(subsets[subset])
    if subset == DEFAULT_SUBSET:

        return sorted(read_yaml(root / "resources" / "finetune_objects.yaml")["objects"])
    raise ConfigError(
        f"unknown fine-tuning subset {subset!r}",
        fix=f"define it under finetune.subsets, or use {DEFAULT_SUBSET!r}",
    )
