"""The engine on one image: every strategy's prompts decoded against the image's single
embedding, the candidates a selection can pick chosen and run-length encoded, one row each.

Output rows: one per (mask, strategy, repeat, candidate) with the candidate mask as a COCO RLE
at the stored image size. `store_predictions`: `selected` (default) keeps the candidates a
selection rule can pick (the best by Dice against the ground truth, the model's own best, or
the only one); `all` keeps every candidate; `none` writes like `selected`, and the workflow
deletes the file once scored. Shard-free (infer.shard reads the shards and loops over their
images): benchmarks/gpu.py drives it on in-memory slices where no HDF5 plug-in is installed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from cosmos_bench.core import rle
from cosmos_bench.core.extent import Bounds, bounds
from cosmos_bench.core.resample import resize_nearest
from cosmos_bench.core.strategies import (
    CLICK_STARTS,
    TEXT_STRATEGIES,
    is_jittered,
    jitter_rng,
    kinds_of,
)
from cosmos_bench.infer import everything, text
from cosmos_bench.infer.clicks import N_CLICKS, click_sessions, session_plan
from cosmos_bench.models import Candidates, PromptableModel
from cosmos_bench.store.truth import Truth

STORE = ("selected", "all", "none")


def usable_strategies(strategies: list[str], accepts: set[str], model_id: str) -> list[str]:
    """Strategies whose prompt kinds the model takes; the others are skipped with a note."""
    usable = [s for s in strategies if kinds_of(s) <= accepts]
    skipped = sorted(set(strategies) - set(usable))
    if skipped:
        print(f"[{model_id}] skips {skipped}: it takes only {sorted(accepts)}", file=sys.stderr)
    return usable


@dataclass(frozen=True)
class Study:
    """The studies' settings. Robustness: R repeats of each jittered strategy, each seeded
    from (seed, mask, strategy, repeat) alone, so no processing order changes a prompt.
    Iterative clicking: clicks per session and whether logits are fed back."""

    seed: int = 0
    repeats: int = 1
    clicks: int = N_CLICKS  # clicks per iterative session
    feed_logits: bool = True  # the previous low-res logits as the mask prompt, where taken
    everything: everything.Settings = everything.Settings()  # S1's grid and thresholds
    click_rule: str = "ritm"  # the next-click rule of the clicks-* sessions (infer.clicks)
    points: str = "paper"  # the point strategies' rule (strategies.POINT_RULES)
    phrases: dict[str, str] = field(default_factory=dict)  # object -> phrase (infer.text)

    def rng(self, mask_id: str, strategy: str, repeat: int) -> np.random.Generator | None:
        return jitter_rng(self.seed, mask_id, strategy, repeat)


@dataclass(frozen=True)
class Embedded:
    """One image as every strategy decodes it: the model, the image's embedding, its ground
    truths and the encoder's time per image (each row's `seconds` starts from it)."""

    model: PromptableModel
    embedding: object
    truths: list[Truth]
    t_embed: float = 0.0


def candidate_bounds(answer: Candidates) -> list[Bounds | None]:
    """Each candidate's bounds: the model's own where it gives them (found on its device,
    models.base.mask_bounds), else searched here (core.extent.bounds)."""
    if answer.boxes is None:
        return [bounds(mask) for mask in answer.masks]
    return [None if y0 < 0 else (y0, y1, x0, x1) for y0, y1, x0, x1 in answer.boxes.tolist()]


def selectable(
    answer: Candidates, truth: Truth, boxes: list[Bounds | None] | None = None
) -> list[int]:
    """Candidates a selection rule can pick: the first best Dice (against the truth's source
    mask, as scoring measures it: score.metrics.dice; the overlap counted on its tight box,
    the only place it can be; a candidate's area on its own bounds, core.extent, where given)
    and the first best score."""
    if len(answer.scores) == 1:
        return [0]
    gt, dices = truth.source, []
    x0, y0, x1, y1 = (int(v) for v in truth.box)
    window = np.s_[y0 : y1 + 1, x0 : x1 + 1]
    inside = gt[window]
    same_size = answer.masks.shape[1:] == gt.shape
    for k, candidate in enumerate(answer.masks):
        mask = resize_nearest(candidate, gt.shape)
        if boxes is not None and same_size:
            box = boxes[k]
            area = (
                0
                if box is None
                else np.count_nonzero(mask[box[0] : box[1] + 1, box[2] : box[3] + 1])
            )
        else:
            area = np.count_nonzero(mask)
        dices.append(2.0 * np.count_nonzero(mask[window] & inside) / (area + truth.area))
    oracle = int(np.argmax(dices))
    scores = [-np.inf if np.isnan(s) else s for s in map(float, answer.scores)]
    return sorted({oracle, int(np.argmax(scores))})


def _row(
    mask_id: str, target: str, strategy: str, runs: np.ndarray, shape: tuple, **fields
) -> dict:
    """One prediction row; `fields` overrides repeat, click, candidate and n_candidates and
    gives model_score and seconds."""
    return {
        "mask_id": mask_id,
        "target": target,
        "strategy": strategy,
        "repeat": 0,
        "click": 0,
        "candidate": 0,
        "n_candidates": 1,
        "height": shape[0],
        "width": shape[1],
        "rle": runs,
        **fields,
    }


def prompt_rows(image: Embedded, strategies: list[str], store: str, study: Study) -> Iterator[dict]:
    """Decode every one-shot prompt of one image in one call; yield the stored candidates."""
    prompts, keys = [], []
    for truth in image.truths:
        for strategy in strategies:
            for repeat in range(study.repeats if is_jittered(strategy) else 1):
                rng = study.rng(truth.mask_id, strategy, repeat)
                prompts.append(truth.prompt(strategy, rng, study.points))
                keys.append((truth, strategy, repeat))
    if not prompts:
        return
    t0 = time.perf_counter()
    answers = image.model.decode(image.embedding, prompts)
    t_prompt = (time.perf_counter() - t0) / len(prompts)
    for (truth, strategy, repeat), answer in zip(keys, answers, strict=True):
        if not len(answer.scores):  # no mask at all (a text model that found nothing): empty
            answer = Candidates(np.zeros((1, *truth.mask.shape), bool), np.full(1, np.nan))
        boxes = candidate_bounds(answer)  # for the Dice and the encoding
        keep = range(len(answer.scores)) if store == "all" else selectable(answer, truth, boxes)
        seconds = image.t_embed + t_prompt
        yield from answer_rows(truth, strategy, answer, keep, seconds, repeat, boxes)


def click_rows(image: Embedded, strategy: str, study: Study) -> Iterator[dict]:
    """Iterative clicking from the strategy's start for every mask of one image together:
    one row per mask and click with the mask the model gave after that click."""
    t0 = time.perf_counter()
    start, rule, steps = session_plan(strategy, study.click_rule, study.clicks)
    sessions = click_sessions(
        image.model,
        image.embedding,
        [truth.mask for truth in image.truths],
        start,
        n_clicks=steps,
        feed_logits=study.feed_logits,
        rule=rule,
    )
    t_click = (time.perf_counter() - t0) / max(1, sum(s.decoded for s in sessions))
    for truth, session in zip(image.truths, sessions, strict=True):
        for k, (runs, score) in enumerate(zip(session.rles, session.scores, strict=True), 1):
            seconds = image.t_embed + t_click * min(k, session.decoded)
            yield _row(
                truth.mask_id,
                truth.target,
                strategy,
                runs,
                truth.mask.shape,
                click=k,
                model_score=score,
                seconds=seconds,
            )


def answer_rows(
    truth: Truth,
    strategy: str,
    answer: Candidates,
    keep: Iterable[int],
    seconds: float,
    repeat: int = 0,
    boxes: list[Bounds | None] | None = None,
) -> Iterator[dict]:
    """One row per kept candidate of a mask's answer (`boxes`: their bounds, where known)."""
    for c in keep:
        yield _row(
            truth.mask_id,
            truth.target,
            strategy,
            rle.encode(answer.masks[c])
            if boxes is None
            else rle.encode_within(answer.masks[c], boxes[c]),
            truth.mask.shape,
            repeat=repeat,
            candidate=c,
            n_candidates=len(answer.scores),
            model_score=float(answer.scores[c]),
            seconds=seconds,
        )


def matched_rows(
    strategy: str, matched: Iterable[tuple[Truth, Candidates]], seconds: float
) -> Iterator[dict]:
    """The rows of masks matched by S1's two rules (Everything mode, the text strategies): both
    matches of every mask are stored."""
    for truth, answer in matched:
        yield from answer_rows(truth, strategy, answer, range(len(answer.scores)), seconds)


def text_rows(image: Embedded, strategy: str, study: Study) -> Iterator[dict]:
    """`text` and `text-box`: the model's instances matched to each mask by S1's rules
    (infer.text)."""
    t0 = time.perf_counter()
    matched = list(
        text.text_answers(
            image.model, image.embedding, image.truths, study.phrases, strategy, study.points
        )
    )
    seconds = image.t_embed + (time.perf_counter() - t0) / len(image.truths)
    yield from matched_rows(strategy, matched, seconds)


def everything_rows(image: Embedded, study: Study) -> Iterator[dict]:
    """S1: the image's masks generated once from the point grid, then matched to each ground
    truth by both rules (cosmos_bench.infer.everything)."""
    truths = image.truths
    t0 = time.perf_counter()
    generated = everything.generate(image.model, image.embedding, truths[0].mask.shape,
                                    study.everything)  # fmt: skip
    answers = everything.match(generated, np.stack([truth.mask for truth in truths]))
    seconds = image.t_embed + (time.perf_counter() - t0) / len(truths)
    yield from matched_rows(everything.STRATEGY, zip(truths, answers, strict=True), seconds)


def image_rows(image: Embedded, strategies: list[str], store: str, study: Study) -> Iterator[dict]:
    """Every strategy on one image: one-shot prompts in one decoder call, the text strategies,
    Everything mode, then each click study (all but the first only on masks with pixels at the
    stored size)."""
    matched = (everything.STRATEGY, *TEXT_STRATEGIES)
    one_shot = [s for s in strategies if s not in CLICK_STARTS and s not in matched]
    yield from prompt_rows(image, one_shot, store, study)
    stored = [truth for truth in image.truths if not truth.shrunk_away]
    if not stored:
        return
    image = replace(image, truths=stored)
    for strategy in TEXT_STRATEGIES:
        if strategy in strategies:
            yield from text_rows(image, strategy, study)
    if everything.STRATEGY in strategies:
        yield from everything_rows(image, study)
    for strategy in strategies:
        if strategy in CLICK_STARTS:
            yield from click_rows(image, strategy, study)
