"""What a run evaluates: the config validated and completed, the selected cards, and the
models (each fine-tuning run's base and the run itself included)."""

from __future__ import annotations

import sys
from pathlib import Path

from cosmos_bench.catalog.cards import (
    Card,
    card_files,
    cosmos_ids,
    load_card,
    load_ontology,
)
from cosmos_bench.catalog.finetune_ids import model_entry, parse, subset_objects
from cosmos_bench.catalog.presets import apply_preset
from cosmos_bench.catalog.schema import nearest, validate
from cosmos_bench.catalog.zoo import load_models, zoo_paths
from cosmos_bench.core.errors import ConfigError

#: where a config key can come from, named in a config error
CONFIG_SOURCES = "config (config/config.yaml, any --configfile and --config)"


def select_cards(config: dict, root: Path, ontology: dict) -> dict[str, Card]:
    """The selected datasets' cards (config/datasets and `cards_dirs`): `all` or ids, then the
    `modalities` filter."""
    ids, dirs = config["datasets"], config["cards_dirs"]
    if ids == "all":
        ids = sorted(card_files(root, dirs))
    elif ids == "cosmos":
        ids = cosmos_ids(root)
    cards = {d: load_card(root, d, ontology, dirs) for d in ids}
    for card in [c for c in cards.values() if "unresolved" in c.raw]:
        print(f"cosmos-bench: leaving out {card.id}: {card.raw['unresolved']}", file=sys.stderr)
        del cards[card.id]
    if not cards:
        raise ConfigError("no selected dataset can be harmonized", fix="widen `datasets`")
    if config["modalities"]:
        unknown = sorted(set(config["modalities"]) - set(ontology["modalities"]))
        if unknown:
            raise ConfigError(
                f"modalities {unknown} are not in resources/ontology.yaml",
                fix=f"choose from {', '.join(ontology['modalities'])}",
            )
        wanted = set(config["modalities"])
        cards = {d: c for d, c in cards.items() if wanted & set(c.modalities)}
        if not cards:
            raise ConfigError(
                f"no selected dataset has modality {config['modalities']}",
                fix="widen `datasets` or `modalities`",
            )
    return cards


def split_run(run: str) -> tuple[str, str]:
    """A 3D run `model/protocol` (config propagation.runs) as (model, protocol)."""
    model, _, protocol = run.rpartition("/")
    return model, protocol


def resolve(config: dict, root: Path) -> tuple[dict[str, Card], dict[str, dict]]:
    """Validate the run config and load its cards and models.

    The config is completed in place (its preset, schema defaults, `all` expanded) so that the
    rules and the report's provenance see exactly what runs.
    """
    apply_preset(config, root)
    validate(config, "config.schema.yaml", CONFIG_SOURCES, root)
    ontology = load_ontology(root)
    cards = select_cards(config, root, ontology)
    config["datasets"] = list(cards)
    if config["targets"] == "all":
        config["targets"] = []
    splits = config["splits"]
    if abs(splits["train"] + splits["val"] + splits["test"] - 1.0) > 1e-9:
        raise ConfigError(
            f"splits must sum to 1, got {splits}", fix="e.g. {train: 0.7, val: 0.1, test: 0.2}"
        )
    zoo = load_models(root, config["models_file"])
    missing = [m for m in config["models"] if m not in zoo]
    if missing:
        raise ConfigError(
            f"unknown models {missing}" + "".join(nearest(m, zoo) for m in missing),
            path=", ".join(str(p) for p in zoo_paths(root, config["models_file"])),
            fix=f"choose from {', '.join(sorted(zoo))}",
        )
    known_targets = {t for card in cards.values() for t in card.targets}
    absent = sorted(set(config["targets"]) - known_targets)
    if absent:
        raise ConfigError(
            f"targets {absent} are in no selected dataset",
            fix=f"selected datasets provide {', '.join(sorted(known_targets))}",
        )
    models = _with_finetuning(config, cards, zoo, root)
    for run in config["propagation"]["runs"]:
        model, protocol = split_run(run)
        if model not in models:
            raise ConfigError(
                f"propagation run {run}: {model} is not in `models`",
                fix=f"add {model} to models: its 2D scores are the 3D results' reference",
            )
        if protocol == "sam2-propagate" and models[model]["adapter"] != "sam2":
            raise ConfigError(f"propagation run {run}: sam2-propagate needs a SAM 2 model",
                              fix="use box-chain for other models")  # fmt: skip
        takes = set(models[model]["prompts"])
        if protocol in ("cvpr25", "cvpr25-3d") and not {"box", "point"} <= takes:
            raise ConfigError(f"propagation run {run}: {protocol} clicks need a model that takes "
                              f"boxes and points; {model} takes {sorted(takes)}",
                              fix="use box-chain for this model")  # fmt: skip
    return cards, models


def _with_finetuning(config: dict, cards: dict[str, Card], zoo: dict, root: Path) -> dict:
    """The evaluated models: the configured ones, each fine-tuning run's base, and the runs."""

    models = {m: zoo[m] for m in config["models"]}
    available = {o for card in cards.values() for o in card.objects}
    for run_id in config["finetune"]["runs"]:
        run = parse(run_id)
        entry = model_entry(zoo, run_id)
        objects = subset_objects(run.subset, config["finetune"]["subsets"], root)
        if not available & set(objects):
            raise ConfigError(
                f"fine-tuning run {run_id}: no selected dataset has an object of the "
                f"{run.subset!r} subset",
                fix=f"the selected datasets have {', '.join(sorted(available))}",
            )
        if run.base not in models:
            print(f"cosmos-bench: evaluating {run.base} too, the base of {run_id}", file=sys.stderr)
            models[run.base] = zoo[run.base]
        models[run_id] = entry
    return models
