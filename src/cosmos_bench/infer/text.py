"""Text prompts: a target's object named in words, alone (`text`) or with its tight box
(`text-box`), for models that take text (SAM 3 and the like).

The phrase is the object's entry in resources/text_phrases.yaml (infer.phrases), the same for
every mask of the target.

`text`: the model answers a phrase with every instance it finds, K >= 0 masks with their
scores, once per image and phrase. The instances are matched to each ground-truth mask of the
target by S1's rules (infer.everything.match): `oracle` the instance with the highest Dice,
`score` the best-scored instance that overlaps the mask; both an empty mask when the model
found nothing or nothing overlaps, which the report counts apart as empty answers.
`text-box`: the phrase and S5's tight box in one prompt per mask; the instances it answers
with are matched to that mask by the same two rules, so the strategy has the same two rows per
mask whether a model finds one instance in the box or several.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np

from cosmos_bench.core.strategies import TEXT, TEXT_BOX, Prompt
from cosmos_bench.infer import everything
from cosmos_bench.infer.phrases import phrase_of

if TYPE_CHECKING:
    from cosmos_bench.models.base import Candidates, PromptableModel
    from cosmos_bench.store.truth import Truth


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
    model: PromptableModel,
    embedding: object,
    truths: list[Truth],
    phrases: Mapping[str, str],
    strategy: str = TEXT,
    points: str = "paper",
) -> Iterator[tuple[Truth, Candidates]]:
    """Each mask's two matched instances (oracle, score), all the image's prompts in one
    decoder call: one per phrase for `text`, one per mask for `text-box`."""
    groups: dict[object, list[Truth]] = {}
    prompts: list[Prompt] = []
    for truth in truths:
        phrase = phrase_of(truth.target, phrases)
        key = phrase if strategy == TEXT else truth.mask_id
        if key not in groups:
            groups[key] = []
            prompts.append(Prompt(TEXT, text=phrase) if strategy == TEXT
                           else truth.prompt(TEXT_BOX, None, points, phrase))  # fmt: skip
        groups[key].append(truth)
    answers = model.decode(embedding, prompts) if prompts else []
    for group, answer in zip(groups.values(), answers, strict=True):
        shape = group[0].mask.shape
        matched = everything.match(instances(answer, shape), np.stack([t.mask for t in group]))
        yield from zip(group, matched, strict=True)
