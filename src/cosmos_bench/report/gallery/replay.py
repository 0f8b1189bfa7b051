"""The prompt a drawn case was given, rebuilt: prompts are not stored, but they depend only on
the ground truth, the strategy, the repeat and the seed (and, for a click strategy, on the
masks the model returned before each click), so the gallery recomputes them with inference's
own torch-free parts: store.truth (Truth.prompt, jitter_rng) and infer.clicks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from cosmos_bench.core.prompt import Prompt
from cosmos_bench.core.strategies import CLICK_STARTS, TEXT_BOX, TEXT_STRATEGIES, jitter_rng
from cosmos_bench.infer.phrases import load_phrases, phrase_of
from cosmos_bench.store.truth import Truth

#: Everything mode (cosmos_bench.infer.everything.STRATEGY): a point grid, no prompt to draw
EVERYTHING = "S1"


@dataclass(frozen=True)
class Replayed:
    """The prompt to draw, in the stored image's pixels (None for Everything mode), and what a
    caption should say of it."""

    prompt: Prompt | None
    note: str = ""


def replay(
    strategy: str,
    truth: Truth,
    repeat: int,
    seed: int,
    click: int = 0,
    earlier: Sequence[np.ndarray] = (),
    rule: str = "ritm",
    points: str = "paper",
) -> Replayed:
    """The prompt of one (mask, strategy, repeat[, click]), as inference built it.

    A jittered strategy draws from the generator inference seeds; a prompt taken on the
    source's mask is mapped onto the stored copy (store.truth.Truth.prompt).
    A click strategy at click k replays the click sequence: its start, then one corrective click per
    mask in `earlier` (the model's masks after clicks 1 .. k-1, in order), by the run's
    next-click `rule` (the CVPR 2025 protocol by its own); `points` is the run's infer.points."""
    if strategy == EVERYTHING:
        return Replayed(None, "Everything mode: masks from a point grid, no prompt drawn")
    if strategy in CLICK_STARTS:
        return _replay_clicks(strategy, truth.mask, click, earlier, rule)
    if strategy in TEXT_STRATEGIES:  # the phrase as the run's workflow folder names it
        phrase = phrase_of(truth.target, _run_phrases())
        box = truth.prompt(TEXT_BOX, None, points, phrase) if strategy == TEXT_BOX else None
        return Replayed(box, f'text prompt "{phrase}"')
    rng = jitter_rng(seed, truth.mask_id, strategy, repeat)
    return Replayed(truth.prompt(strategy, rng, points))


@cache
def _run_phrases() -> dict[str, str]:
    """The run's phrases, read once per gallery job (the job runs in the workflow folder)."""
    return load_phrases(Path.cwd())


def _replay_clicks(
    strategy: str, gt: np.ndarray, click: int, earlier: Sequence[np.ndarray], rule: str
) -> Replayed:
    """The click sequence's prompt at `click`: the start's prompt plus the clicks the earlier masks
    called for (infer.clicks, by the rule inference used)."""
    from cosmos_bench.infer.clicks import CLICK_RULES, ClickSession, session_plan  # loads torch

    start, rule, _ = session_plan(strategy, rule, click)
    session = ClickSession.begin(start, np.asarray(gt, bool))
    wanted = max(0, click - 1)
    if len(earlier) < wanted:
        note = f"first prompt only: the masks before click {click} are not stored"
        return Replayed(session.prompt(None), note)
    for pred in earlier[:wanted]:
        found = CLICK_RULES[rule](gt, pred, session.clicked)
        if found is None:
            break
        session.add(float(found[0]), float(found[1]), found[2])
    n = len(session.points)
    return Replayed(session.prompt(None), f"after click {click}: {n} point{'s' * (n != 1)}")
