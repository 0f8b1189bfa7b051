"""The run's catalog: the validated config, its dataset cards, models and the ontology.

Everything a stage needs to know about a dataset or model comes from here, so a mistake in a
card or the config is found once, before any job runs, with a message that names the file.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cosmos_bench.errors import ConfigError

SCHEMAS = Path("workflow") / "schemas"  # relative to the workflow root (the working directory)


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning a parse error into one that names the file."""
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError as err:
        raise ConfigError("file not found", path=str(path)) from err
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML: {err}", path=str(path)) from err


@functools.cache
def _validator(root: Path, schema_name: str) -> jsonschema.Validator:
    """A validator that also fills in the schema's defaults, as snakemake.utils.validate does.

    Cached: the full catalog validates 50+ cards against one schema."""
    schema = read_yaml(root / SCHEMAS / schema_name)
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(key, sub["default"])
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    extended = jsonschema.validators.extend(base, {"properties": set_defaults})
    return extended(schema)


def validate(obj: Any, schema_name: str, where: str, root: Path) -> None:
    """Validate against a schema in workflow/schemas, naming the offending key and file."""
    errors = sorted(_validator(root, schema_name).iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        key = "/".join(str(p) for p in first.path) or "(top level)"
        raise ConfigError(
            f"invalid {where}: at '{key}': {first.message}",
            path=where,
            fix=f"see the schema workflow/schemas/{schema_name} and config/README.md",
        )


PART_KEYS = ("modality", "format", "labels", "instances", "structures", "slice_axis")


@dataclass(frozen=True)
class Part:
    """One homogeneous piece of a dataset: one modality, one adapter, one label meaning.

    Exactly one of `labels` (value -> object), `instances` (every instance is one object) and
    `structures` (one file per structure name -> object) says what the masks are.
    """

    name: str
    modality: str
    format: dict
    labels: dict[int, str]
    instances: str | None
    structures: dict[str, str]
    slice_axis: str

    @classmethod
    def from_raw(cls, raw: dict) -> Part:
        """A part from its card entry (the single-part shorthand has no name)."""
        return cls(
            name=raw.get("name", ""),
            modality=raw["modality"],
            format=raw["format"],
            labels={int(k): v for k, v in raw.get("labels", {}).items()},
            instances=raw.get("instances"),
            structures=dict(raw.get("structures", {})),
            slice_axis=raw.get("slice_axis", "axial"),
        )

    @property
    def value_objects(self) -> dict[int, str]:
        """Label value -> object; structure k (in card order) has value k + 1."""
        if self.structures:
            return {k + 1: obj for k, obj in enumerate(self.structures.values())}
        return self.labels

    @property
    def objects(self) -> set[str]:
        if self.instances:
            return {self.instances}
        return set(self.labels.values()) | set(self.structures.values())

    @property
    def targets(self) -> set[str]:
        return {f"{self.modality}/{obj}" for obj in self.objects}


@dataclass(frozen=True)
class Card:
    """One dataset card, validated; `parts` is the one place adapters read layout from."""

    raw: dict

    @property
    def id(self) -> str:
        return self.raw["id"]

    @property
    def parts(self) -> list[Part]:
        """The card's parts; none for an `unresolved` card (no label source known)."""
        if "unresolved" in self.raw:
            return []
        if "parts" in self.raw:
            return [Part.from_raw(p) for p in self.raw["parts"]]
        return [Part.from_raw({k: self.raw[k] for k in PART_KEYS if k in self.raw})]

    @property
    def modalities(self) -> list[str]:
        return sorted({p.modality for p in self.parts})

    @property
    def source(self) -> dict:
        return self.raw["source"]

    @property
    def source_files(self) -> list[dict]:
        """The files to fetch: `files`, or the single `url` (with its filename and sha256)."""
        source = self.source
        if "files" in source:
            return source["files"]
        if "url" in source:
            keys = ("url", "filename", "sha256")
            return [{k: source[k] for k in keys if k in source}]
        return []

    @property
    def objects(self) -> list[str]:
        return sorted(set().union(set(), *(p.objects for p in self.parts)))

    @property
    def targets(self) -> list[str]:
        return sorted(set().union(set(), *(p.targets for p in self.parts)))


def load_ontology(root: Path) -> dict:
    return read_yaml(root / "resources" / "ontology.yaml")


def load_card(root: Path, dataset: str, ontology: dict) -> Card:
    """Load and check one card: schema, id = file name, modality and objects in the ontology."""
    path = root / "config" / "datasets" / f"{dataset}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (root / "config" / "datasets").glob("*.yaml"))
        raise ConfigError(
            f"no dataset card for '{dataset}'",
            dataset=dataset,
            path=str(path),
            fix=f"use one of {', '.join(known)} or write the card (see config/README.md)",
        )
    raw = read_yaml(path)
    validate(raw, "card.schema.yaml", str(path), root)
    if raw["id"] != dataset:
        raise ConfigError(f"card id '{raw['id']}' differs from its file name", path=str(path))
    card = Card(raw)
    names = [p.name for p in card.parts]
    if len(set(names)) != len(names):
        raise ConfigError(f"part names {names} repeat", dataset=dataset, path=str(path))
    odd = sorted(set(card.modalities) - set(ontology["modalities"]))
    if odd:
        raise ConfigError(
            f"modalities {odd} are not in resources/ontology.yaml",
            dataset=dataset,
            path=str(path),
            fix="use a modality from the ontology or add it there",
        )
    unknown = sorted(set(card.objects) - set(ontology["objects"]))
    if unknown:
        raise ConfigError(
            f"objects {unknown} are not in resources/ontology.yaml",
            dataset=dataset,
            path=str(path),
            fix="use the ontology's spelling (e.g. left_kidney) or add the object there",
        )
    return card


def all_cards(root: Path) -> list[Card]:
    """Every card in config/datasets, validated, by id."""
    ontology = load_ontology(root)
    return [
        load_card(root, p.stem, ontology)
        for p in sorted((root / "config" / "datasets").glob("*.yaml"))
    ]


def cosmos_ids(root: Path) -> list[str]:
    """The COSMOS 1050K datasets (cards with a `cosmos` number), in the paper's README order."""
    numbered = [
        (read_yaml(p).get("cosmos"), p.stem) for p in (root / "config" / "datasets").glob("*.yaml")
    ]
    return [d for n, d in sorted((n, d) for n, d in numbered if n)]


PAPER_COUNTS = {"datasets": 53, "modalities": 18, "objects": 84, "targets": 125}


def counts(cards: list[Card]) -> dict[str, int]:
    """Datasets, modalities, objects and targets of a selection (compare PAPER_COUNTS)."""
    targets = set().union(set(), *(c.targets for c in cards))
    return {
        "datasets": len(cards),
        "modalities": len({t.split("/")[0] for t in targets}),
        "objects": len({t.split("/")[1] for t in targets}),
        "targets": len(targets),
    }


def load_models(root: Path) -> dict[str, dict]:
    return read_yaml(root / "config" / "models.yaml")


def select_cards(config: dict, root: Path, ontology: dict) -> dict[str, Card]:
    """The selected datasets' cards: `all` or ids, then the `modalities` filter."""
    ids = config["datasets"]
    if ids == "all":
        ids = sorted(p.stem for p in (root / "config" / "datasets").glob("*.yaml"))
    elif ids == "cosmos":
        ids = cosmos_ids(root)
    cards = {d: load_card(root, d, ontology) for d in ids}
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

    The config is completed in place (schema defaults, `all` expanded) so that the rules and the
    report's provenance see exactly what runs.
    """
    validate(config, "config.schema.yaml", "config", root)
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
    zoo = load_models(root)
    missing = [m for m in config["models"] if m not in zoo]
    if missing:
        raise ConfigError(
            f"unknown models {missing}",
            path=str(root / "config" / "models.yaml"),
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
    return cards, models


def _with_finetuning(config: dict, cards: dict[str, Card], zoo: dict, root: Path) -> dict:
    """The evaluated models: the configured ones, each fine-tuning run's base, and the runs."""
    from cosmos_bench.finetuned import model_entry, parse, subset_objects

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
