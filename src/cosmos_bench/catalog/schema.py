"""Config and card files: strict YAML reading and schema validation that names the
offending key and file (workflow/schemas, as snakemake.utils.validate)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cosmos_bench.core.errors import ConfigError

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


# `--config key=value` reads only True/False as booleans: the other spellings a user types
# (true, yes, on, 1) reach the config as strings, and so do numbers inside a nested value
# (`--config finetune={epochs: 3}`), so they are read here, before validation
BOOLEAN_SPELLINGS = {
    **dict.fromkeys(("true", "yes", "on", "1"), True),
    **dict.fromkeys(("false", "no", "off", "0"), False),
}
NUMBERS = {"integer": int, "number": float}


def _number(value: Any, kind: str) -> Any:
    """A number given as text, read as the schema's kind; anything else unchanged (validation
    then names it)."""
    if kind not in NUMBERS or not isinstance(value, str):
        return value
    try:
        return NUMBERS[kind](value)
    except ValueError:
        return value


def _coerce(values: Any, schema: dict, where: str) -> None:
    """Turn the common spellings of true/false into booleans at every key the schema declares
    boolean, and numbers given as text into numbers where it declares one (in nested objects
    and arrays too), in place; a boolean key with anything else is refused."""
    if not isinstance(values, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in values:
            continue
        name = f"{where}{key}"
        value = values[key]
        if sub.get("type") == "boolean" and not isinstance(value, bool):
            spelling = str(value).strip().lower()
            if spelling not in BOOLEAN_SPELLINGS:
                raise ConfigError(
                    f"invalid config: at '{name}': {value!r} is not a boolean",
                    path="config",
                    fix=f"write {name}=true or {name}=false (or yes/no, on/off, 1/0)",
                )
            values[key] = BOOLEAN_SPELLINGS[spelling]
        values[key] = _number(values[key], sub.get("type", ""))
        if isinstance(values[key], list):
            kind = sub.get("items", {}).get("type", "")
            values[key] = [_number(item, kind) for item in values[key]]
        _coerce(values[key], sub, f"{name}.")


def coerce_scalars(config: dict, root: Path) -> None:
    """Read true/yes/on/1 and false/no/off/0 (any case) as booleans wherever the config schema
    declares a boolean, and numbers given as text as numbers wherever it declares one, in
    place, before validation; anything else at a boolean key is refused."""
    _coerce(config, read_yaml(root / SCHEMAS / "config.schema.yaml"), "")
