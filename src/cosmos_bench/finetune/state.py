"""The resumable training state: trainable weights, optimizer and log, written atomically
every few steps, so a run killed at any moment resumes where its last state left it."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import torch

from cosmos_bench.core.atomic import write_bytes


def save_state(path: Path, state: dict) -> None:
    """Write `state` to `path` under a temporary name, renamed once complete."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(path, buffer.getvalue())


def load_state(path: Path, key: str) -> dict | None:
    """The saved state, or None when there is none or it was written for another recipe
    (`key`: a changed recipe starts over instead of resuming someone else's weights)."""
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("key") != key:
        print(f"{path}: the recipe changed since this state was written; starting over",
              file=sys.stderr)  # fmt: skip
        return None
    return state
