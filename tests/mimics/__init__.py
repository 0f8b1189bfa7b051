"""Mimic sources for every COSMOS card, one module per format family.

A builder `build(out: Path)` writes the card's source files, named as the card names them
(`archive_name` of each source entry), into `out`; the mimic test serves them over loopback
HTTP (or places them in the manual folder of a gated dataset) and runs the real download,
unpack and harmonize code on them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

Builder = Callable[[Path], None]
GROUPS = ("abdomen_ct", "totalsegmentator", "mri", "images2d", "special")


def builders() -> dict[str, Builder]:
    """Every group's BUILDERS, checked for clashes."""
    found: dict[str, Builder] = {}
    for group in GROUPS:
        try:
            module = importlib.import_module(f"mimics.{group}")
        except ModuleNotFoundError as err:
            if err.name != f"mimics.{group}":
                raise
            continue
        clash = set(found) & set(module.BUILDERS)
        assert not clash, f"builders defined twice: {clash}"
        found.update(module.BUILDERS)
    return found
