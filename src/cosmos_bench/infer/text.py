"""Text prompts: a target's object named in words, alone (`text`) or with its tight box
(`text-box`), for models that take text (SAM 3 and the like).

The phrase is the object's entry in resources/text_phrases.yaml (infer.phrases), the same for
every mask of the target.

`text`: the model answers a phrase with every instance it finds, K >= 0 masks with their
scores, once per image and phrase. The instances are matched to each ground-truth mask of the
target by S1's rules (infer.everything.match): `oracle` the instance with the highest Dice,
`score` the best-scored instance that overlaps the mask; both an empty mask when the model
found nothing or nothing overlaps, which the report counts apart as empty answers.
`text-box`: the phrase and S5's tight box in one prompt, one answer per mask, selected as S5's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np

from cosmos_bench.infer import everything
from cosmos_bench.infer.phrases import phrase_of
from cosmos_bench.infer.strategies import TEXT, Prompt

if TYPE_CHECKING:
    from cosmos_bench.infer.truth import Truth
    from cosmos_bench.models.base import Candidates, PromptableModel

def instances(answer: Candidates, shape: tuple[int, int]) -> everything.Generated:
    """A text answer's K instances as S1's generated masks, best score first (a model without
    scores keeps its own order)."""
    masks = np.asarray(answer.masks, bool).reshape(-1, *shape)
    scores = np.asarray(answer.scores, np.float64).reshape(-1)
    order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
    stability = answer.stability if answer.stability is not None else np.full(len(scores), np.nan)
    points = np.zeros((len(scores), 2))
    return everything.Generated.from_masks(
        masks[order], scores[order], np.asarray(stability, np.float64)[order], points
    )


def text_answers(
    model: PromptableModel, embedding: object, truths: list[Truth], phrases: Mapping[str, str]
) -> Iterator[tuple[Truth, Candidates]]:
    """Each mask's two matched instances (oracle, score), one decoder call for all the image's
    phrases."""
    by_phrase: dict[str, list[Truth]] = {}
    for truth in truths:
        by_phrase.setdefault(phrase_of(truth.target, phrases), []).append(truth)
    prompts = [Prompt(TEXT, text=phrase) for phrase in by_phrase]
    answers = model.decode(embedding, prompts) if prompts else []
    for (_, group), answer in zip(by_phrase.items(), answers, strict=True):
        shape = group[0].mask.shape
        matched = everything.match(instances(answer, shape), np.stack([t.mask for t in group]))
        yield from zip(group, matched, strict=True)
