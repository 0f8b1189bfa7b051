"""The text strategies' phrase per object: resources/text_phrases.yaml, the object's id in
words (`left_kidney` -> "left kidney"). Torch-free: the report's gallery names the phrase a
text prompt gave."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cosmos_bench.catalog.schema import read_yaml
from cosmos_bench.core.errors import ConfigError

PHRASES = Path("resources") / "text_phrases.yaml"


def load_phrases(root: Path) -> dict[str, str]:
    """Object id -> phrase, from the workflow folder's resources/text_phrases.yaml."""
    path = root / PHRASES
    raw = read_yaml(path) or {}
    phrases = raw.get("phrases")
    if not isinstance(phrases, dict) or not all(isinstance(v, str) for v in phrases.values()):
        raise ConfigError(
            f"{path} has no `phrases:` mapping of object ids to phrases",
            path=str(path),
            fix="restore it from the repository (git checkout resources/text_phrases.yaml)",
        )
    return {str(k): v.strip() for k, v in phrases.items()}


def phrase_of(target: str, phrases: Mapping[str, str]) -> str:
    """The phrase for a target (`modality/object`): its object's."""
    obj = target.split("/", 1)[-1]
    if obj not in phrases:
        raise ConfigError(
            f"object {obj!r} (target {target!r}) has no phrase for the text strategies",
            path=str(PHRASES),
            fix=f"add `{obj}: <a short phrase naming it>` under `phrases:` in {PHRASES}",
        )
    return phrases[obj]
