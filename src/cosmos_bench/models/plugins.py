"""Models from outside the package: a zoo entry's `adapter` names `package.module:Class`, or an
entry point that an installed package registers under `cosmos_bench.models`.

The class implements the public contract (`cosmos_bench.PromptableModel`, docs/own-model.md)
and is built as `Class(weights=<verified Path or None>, device=<torch.device>, seed=<int>,
**options)`. `check` imports every selected plug-in before any job runs
(`python -m cosmos_bench.models.plugins`, called by the workflow at parse), so a broken one
stops the run with its entry, its file and the fix instead of a traceback in an infer job.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points
from pathlib import Path

from cosmos_bench.catalog.zoo import BUILTIN_ADAPTERS, load_models, model_files, models_argument
from cosmos_bench.core.errors import ConfigError, run_cli
from cosmos_bench.models.base import CONTRACT_VERSION, PromptableModel

GROUP = "cosmos_bench.models"


def installed() -> dict[str, str]:
    """Entry-point name -> `module:Class` of every installed plug-in."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def plugin_class(adapter: str, model: str = "", path: Path | None = None) -> type:
    """The class an adapter names, checked against the contract; errors say what to do."""
    where = {"path": str(path)} if path else {}
    label = f"model {model!r}: adapter {adapter!r}"
    target = adapter if ":" in adapter else installed().get(adapter)
    if target is None:
        known = ", ".join([*BUILTIN_ADAPTERS, *sorted(installed())])
        raise ConfigError(f"{label} is neither built in, `package.module:Class`, nor an "
                          f"installed plug-in ({GROUP} entry point)", **where,
                          fix=f"write adapter: my_pkg.my_module:MyModel, or pip install the "
                              f"package that provides it; known: {known}")  # fmt: skip
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"{label}: cannot import {module_name!r} ({err})", **where,
                          fix=f"pip install the package that provides {module_name}, or put "
                              "its folder on PYTHONPATH (PYTHONPATH=/path/to/folder snakemake "
                              "...)") from err  # fmt: skip
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ConfigError(f"{label}: {module_name} has no class {class_name!r}", **where,
                          fix=f"name the class as {module_name}:<ClassName>; the module "
                              f"defines {_classes(module)}")  # fmt: skip
    if not issubclass(cls, PromptableModel):
        raise ConfigError(f"{label}: {cls.__name__} is not a cosmos_bench.PromptableModel",
                          **where, fix="subclass cosmos_bench.PromptableModel and implement "
                                       "embed and decode (docs/own-model.md)")  # fmt: skip
    if cls.contract > CONTRACT_VERSION:
        raise ConfigError(f"{label}: {cls.__name__} implements model contract {cls.contract}; "
                          f"this cosmos-bench knows up to {CONTRACT_VERSION}", **where,
                          fix="upgrade cosmos-bench (pip install -U cosmos-bench)")  # fmt: skip
    return cls


def _classes(module) -> str:
    names = sorted(n for n, v in vars(module).items() if isinstance(v, type)
                   and v.__module__ == module.__name__)  # fmt: skip
    return ", ".join(names) or "no class"


def check(model: str, entry: dict, path: Path | None = None) -> type:
    """A plug-in entry's class, and that it takes every prompt kind its entry lists."""
    cls = plugin_class(entry["adapter"], model, path)
    missing = sorted(set(entry["prompts"]) - set(cls.accepts))
    if missing:
        raise ConfigError(f"model {model!r}: its entry lists prompts {missing} that "
                          f"{cls.__name__}.accepts ({sorted(cls.accepts)}) does not take",
                          **({"path": str(path)} if path else {}),
                          fix=f"add {missing} to {cls.__name__}.accepts, or remove them from "
                              "the entry's `prompts`")  # fmt: skip
    return cls


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cosmos_bench.models.plugins",
                                     description="check the selected plug-in models")  # fmt: skip
    parser.add_argument("models", nargs="+")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    models_argument(parser)
    args = parser.parse_args(argv)
    zoo = load_models(args.root, args.models_files)
    files = model_files(args.root, args.models_files)
    for model in args.models:
        cls = check(model, zoo[model], files[model])
        print(f"{model}: {cls.__module__}:{cls.__name__} (contract {cls.contract}) ok",
              file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    run_cli(main)
