"""Config and card files: strict YAML reading and schema validation that names the
offending key and file (workflow/schemas, as snakemake.utils.validate)."""

from __future__ import annotations

import difflib
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
    """Validate against a schema in workflow/schemas, naming the offending key, the file and,
    for a misspelt key, the nearest valid one."""
    validator = _validator(root, schema_name)
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        key = "/".join(str(p) for p in first.path) or "(top level)"
        raise ConfigError(
            f"invalid {where}: at '{key}': {_explain(first, validator.schema)}",
            path=where,
            fix=f"see the schema workflow/schemas/{schema_name} and config/README.md",
        )


def nearest(name: str, choices: Any) -> str:
    """' (did you mean 'x'?)' for the closest of `choices`, or '' when none is close."""
    close = difflib.get_close_matches(str(name), sorted(map(str, choices)), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def _described(schema: dict, path: list) -> str | None:
    """The description nearest to the failing keyword, walking up from it (the schema's own
    description, of the whole file, says nothing about one key and is left out)."""
    nodes = [schema]
    for step in path[:-1]:
        try:
            nodes.append(nodes[-1][step])
        except (KeyError, IndexError, TypeError):  # the path crossed a $ref
            return None
    for node in reversed(nodes[1:]):
        if isinstance(node, dict) and node.get("description"):
            return " ".join(str(node["description"]).split())
    return None


def _explain(error: jsonschema.ValidationError, schema: dict) -> str:
    """The validator's message in the user's words: an unknown key with its nearest valid
    name, a value that does not match a pattern with what the key accepts, not the regex."""
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        unknown = [k for k in error.instance if k not in known]
        # `--config harmonize={max_sides:512}` (no space after the colon) arrives as one key
        return "; ".join(
            f"unknown key {k!r}{nearest(str(k).split(':', 1)[0], known)}" for k in unknown
        )
    if error.validator == "pattern":
        accepted = _described(schema, list(error.absolute_schema_path))
        if accepted:
            return f"{error.instance!r} is not valid here; accepted: {accepted}"
    return error.message


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
    and arrays too, and under `additionalProperties`: harmonize.case_jobs' counts), in place;
    a boolean key with anything else is refused."""
    if not isinstance(values, dict):
        return
    declared = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    keys = [(key, sub) for key, sub in declared.items() if key in values]
    if isinstance(extra, dict):
        keys += [(key, extra) for key in values if key not in declared]
    for key, sub in keys:
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
        if sub.get("type") == "array" and isinstance(values[key], str):
            values[key] = [values[key]]  # `--config models_file=mine.yaml`: a list of one
        if isinstance(values[key], list):
            values[key] = _items(values[key], sub.get("items", {}))
        _coerce(values[key], sub, f"{name}.")


def _items(values: list, schema: dict) -> list:
    """Numbers given as text in a list and in the lists inside it (robustness.ranges)."""
    return [_items(v, schema.get("items", {})) if isinstance(v, list)
            else _number(v, schema.get("type", "")) for v in values]  # fmt: skip


def coerce_scalars(config: dict, root: Path) -> None:
    """Read true/yes/on/1 and false/no/off/0 (any case) as booleans wherever the config schema
    declares a boolean, numbers given as text as numbers wherever it declares one, and one
    text where it declares a list as a list of it, in place, before validation; anything else
    at a boolean key is refused."""
    _coerce(config, read_yaml(root / SCHEMAS / "config.schema.yaml"), "")
