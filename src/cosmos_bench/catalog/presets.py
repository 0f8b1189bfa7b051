"""Presets: named bundles of the settings where the paper, its authors' code and MedSAM differ.

config/presets.yaml holds them; `preset:` in a run config picks one (default `paper`). A key
the run config sets itself wins, so a preset is where a run starts, never a lock: every
difference stays switchable on its own (docs/deviations.md).
"""

from __future__ import annotations

import copy
from pathlib import Path

from cosmos_bench.catalog.schema import read_yaml
from cosmos_bench.core.errors import ConfigError

DEFAULT = "paper"


def load_presets(root: Path) -> dict[str, dict]:
    return read_yaml(root / "config" / "presets.yaml")


def _fill(config: dict, values: dict) -> None:
    """Set each preset key the config leaves unset, recursing into sections."""
    for key, value in values.items():
        if isinstance(value, dict):
            if not isinstance(config.get(key), dict):
                config[key] = {}
            _fill(config[key], value)
        elif key not in config:
            config[key] = copy.deepcopy(value)


def apply_preset(config: dict, root: Path) -> str:
    """Complete `config` in place from its preset; return the preset's name."""
    presets = load_presets(root)
    name = config.get("preset", DEFAULT)
    if name not in presets:
        raise ConfigError(
            f"unknown preset {name!r}",
            path=str(root / "config" / "presets.yaml"),
            fix=f"choose from {', '.join(presets)}",
        )
    _fill(config, presets[name])
    config["preset"] = name
    return name
