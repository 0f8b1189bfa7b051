"""The model zoo: config/models.yaml and the run's own models files (`models_file`), merged.

A lab keeps its models outside the repository: each extra file maps model ids to entries like
config/models.yaml's; an id defined twice is refused (naming both files), so no file silently
replaces a zoo model. Entries are checked for shape here (adapter, prompt kinds, weights); an
adapter that is not built in is imported and checked by models.plugins before any job runs.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

from cosmos_bench.catalog.schema import read_yaml
from cosmos_bench.core.errors import ConfigError

ZOO = Path("config") / "models.yaml"
PROMPT_KINDS = ("box", "point", "mask", "text")
#: the adapters cosmos_bench.models builds itself; any other is a plug-in (models.plugins)
BUILTIN_ADAPTERS = (
    "litemedsam", "sam", "medsam", "sam2", "grabcut", "random-walker", "otsu-box", "otsu-text",
)


def is_plugin(adapter: str) -> bool:
    return adapter not in BUILTIN_ADAPTERS


def zoo_paths(root: Path, files: Sequence[str | Path] = ()) -> list[Path]:
    """config/models.yaml, then each models file (relative to the workflow folder)."""
    return [root / ZOO, *(Path(f) if Path(f).is_absolute() else root / f for f in files)]


def model_files(root: Path, files: Sequence[str | Path] = ()) -> dict[str, Path]:
    """Each model id -> the file that defines it (clashes refused)."""
    origin: dict[str, Path] = {}
    for path in zoo_paths(root, files):
        for name in _read(path):
            if name in origin:
                raise ConfigError(
                    f"model {name!r} is defined in both {origin[name]} and {path}",
                    path=str(path),
                    fix=f"rename {name!r} in one of them (an id names one model)",
                )
            origin[name] = path
    return origin


def own_model_files(root: Path, files: Sequence[str]) -> dict[str, str]:
    """Each model of the run's own models files -> its file as the config names it: the one
    file a job of that model needs (config/models.yaml's models need none)."""
    return {name: str(f) for f in files for name in _read(zoo_paths(root, [f])[1])}


def load_models(root: Path, files: Sequence[str | Path] = ()) -> dict[str, dict]:
    """Every model of the zoo and of the `models_file`s, each entry checked for shape."""
    zoo: dict[str, dict] = {}
    for name, path in model_files(root, files).items():
        entry = _read(path)[name]
        _check_entry(name, entry, path)
        zoo[name] = entry
    return zoo


def _read(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(
            f"models file {path} does not exist",
            path=str(path),
            fix="give `models_file` a path relative to the workflow folder, or an absolute one",
        )
    zoo = read_yaml(path) or {}
    if not isinstance(zoo, dict) or not all(isinstance(e, dict) for e in zoo.values()):
        raise ConfigError(
            f"models file {path} is not a mapping of model ids to entries",
            path=str(path),
            fix="write `my-model: {adapter: my_pkg.my_module:MyModel, prompts: [box]}`",
        )
    return zoo


def _check_entry(name: str, entry: dict, path: Path) -> None:
    """An entry's adapter, prompt kinds and weights, with the fix for each."""
    where = {"path": str(path)}
    if not isinstance(entry.get("adapter"), str):
        raise ConfigError(f"model {name!r} has no `adapter`", **where,
                          fix="a built-in adapter (e.g. litemedsam), `package.module:Class`, or "
                              "an installed plug-in's entry-point name")  # fmt: skip
    prompts = entry.get("prompts")
    if not isinstance(prompts, list) or not prompts or set(prompts) - set(PROMPT_KINDS):
        raise ConfigError(f"model {name!r}: `prompts` must list prompt kinds, got {prompts!r}",
                          **where, fix=f"choose from {', '.join(PROMPT_KINDS)}")  # fmt: skip
    weights = entry.get("weights")
    if weights is not None and not _weights_ok(weights):
        raise ConfigError(f"model {name!r}: `weights` needs a url (and, once known, the "
                          "file's 64-digit lowercase sha256), or `files` with a path and url "
                          "each (a model folder)", **where,
                          fix="weights: {url: https://..., sha256: <sha256sum of the file>}, "
                              "weights: {files: [{path: plans.json, url: https://..., sha256: "
                              "...}]}, or no `weights` for a weight-free model")  # fmt: skip
    if not isinstance(entry.get("options", {}), dict):
        raise ConfigError(f"model {name!r}: `options` must be a mapping (keyword arguments)",
                          **where, fix="options: {threshold: 0.5}")  # fmt: skip


def _weights_ok(weights: object) -> bool:
    """One file ({url, sha256?}) or a folder ({files: [{path, url, sha256?}]}), either `gated`
    (with the instructions a user follows)."""
    if not isinstance(weights, dict) or not isinstance(weights.get("gated", ""), str):
        return False
    files = weights.get("files", [weights])
    if not isinstance(files, list) or not files or ("files" in weights) == ("url" in weights):
        return False
    return all(
        isinstance(f, dict) and isinstance(f.get("url"), str)
        and re.fullmatch(r"[0-9a-f]{64}", str(f.get("sha256", "0" * 64)))
        and ("files" not in weights or _relative(f.get("path")))
        for f in files
    )  # fmt: skip


def _relative(path: object) -> bool:
    """A file's place inside a model folder: relative, without `..`."""
    return isinstance(path, str) and bool(path) and not path.startswith("/") and (
        ".." not in path.split("/"))  # fmt: skip


def models_argument(parser: argparse.ArgumentParser) -> None:
    """The `--models-file` option of every job that loads the zoo: the config's `models_file`."""
    parser.add_argument(
        "--models-file", dest="models_files", action="append", default=[], type=Path,
        help="a models file besides config/models.yaml (repeatable)",
    )  # fmt: skip
