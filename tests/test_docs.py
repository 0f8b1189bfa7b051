"""config/README.md keeps up with the schemas: every config key and card key is documented."""

from __future__ import annotations

import re

import yaml
from helpers import ROOT

README = (ROOT / "config" / "README.md").read_text()
SCHEMAS = ROOT / "workflow" / "schemas"


def _section(title: str) -> str:
    """The text of one `## title` section of config/README.md (the config table is the top)."""
    parts = re.split(r"^## ", README, flags=re.MULTILINE)
    if title == "":
        return parts[0]
    return next(p for p in parts[1:] if p.startswith(title))


def _documented(text: str) -> set[str]:
    """Every `code span` of a text (a key is documented where it is written as one)."""
    return set(re.findall(r"`([^`]+)`", text))


def _leaves(properties: dict, prefix: str = "") -> list[str]:
    """Dotted names of the schema's keys: an object's own keys, or the key itself."""
    names = []
    for key, sub in properties.items():
        if "properties" in sub:
            names += _leaves(sub["properties"], f"{prefix}{key}.")
        else:
            names.append(f"{prefix}{key}")
    return names


def test_every_config_key_is_in_the_config_table() -> None:
    schema = yaml.safe_load((SCHEMAS / "config.schema.yaml").read_text())
    documented = _documented(_section(""))
    keys = _leaves(schema["properties"])
    assert set(schema["properties"]) <= {key.split(".")[0] for key in keys}
    assert [key for key in keys if key not in documented] == []


def test_every_card_format_and_source_key_is_in_the_card_table() -> None:
    schema = yaml.safe_load((SCHEMAS / "card.schema.yaml").read_text())
    documented = _documented(_section("Dataset cards"))
    groups = {
        "format": schema["$defs"]["part"]["properties"]["format"]["properties"],
        "source": schema["properties"]["source"]["properties"],
    }
    missing = [
        f"{group}.{key}"
        for group, properties in groups.items()
        for key in properties
        if f"{group}.{key}" not in documented
    ]
    assert missing == []
