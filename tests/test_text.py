"""The text strategies: the phrase list, the prompts, S1's matching rules on a text answer's
instances, the weight-free stand-in, and the report's table, each on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT

from cosmos_bench.catalog.cards import load_ontology
from cosmos_bench.core.errors import ConfigError
from cosmos_bench.core.strategies import Prompt, kinds_of, make_prompt, tight_box
from cosmos_bench.infer.image import usable_strategies
from cosmos_bench.infer.phrases import load_phrases, phrase_of
from cosmos_bench.infer.text import text_answers
from cosmos_bench.models.base import Candidates, PromptableModel
from cosmos_bench.models.otsu_text import OtsuText
from cosmos_bench.report.tables.studies import TEXT_COLUMNS, text_prompts
from cosmos_bench.store.truth import Truth


def disc(cy: int, cx: int, r: int, shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.hypot(yy - cy, xx - cx) <= r


def test_every_ontology_object_has_one_phrase_and_only_those() -> None:
    phrases = load_phrases(ROOT)
    objects = load_ontology(ROOT)["objects"]
    assert set(phrases) == set(objects)
    assert phrases["left_kidney"] == "left kidney" and phrases["csf"] == "cerebrospinal fluid"
    assert all(phrase and "_" not in phrase for phrase in phrases.values())
    assert phrase_of("CT/left_kidney", phrases) == "left kidney"
    with pytest.raises(ConfigError, match="no phrase") as err:
        phrase_of("CT/unicorn_horn", phrases)
    assert "resources/text_phrases.yaml" in str(err.value) and "unicorn_horn:" in str(err.value)


def test_text_prompts_carry_the_phrase_and_text_box_s5s_box() -> None:
    mask = disc(30, 20, 6)
    box = make_prompt("text-box", mask, phrase="liver")
    assert box.text == "liver" and np.array_equal(box.box, tight_box(mask))
    alone = make_prompt("text", mask, phrase="liver")
    assert alone.text == "liver" and alone.box is None and alone.points is None
    assert alone.kinds == kinds_of("text") == {"text"} and box.kinds == {"text", "box"}
    with pytest.raises(ValueError, match="phrase"):
        make_prompt("text", mask)
    # a model without text skips both (LiteMedSAM: box, point, mask)
    assert usable_strategies(["S5", "text", "text-box"], {"box", "point", "mask"}, "m") == ["S5"]


class Instances(PromptableModel):
    """Answers every phrase with fixed instances (masks, scores) and records the prompts."""

    accepts = frozenset({"text"})

    def __init__(self, masks: np.ndarray, scores: list[float]) -> None:
        self.masks, self.scores, self.seen = masks, np.array(scores, float), []

    def embed(self, image: np.ndarray) -> np.ndarray:
        return image

    def decode(self, embedding: np.ndarray, prompts: list[Prompt]) -> list[Candidates]:
        self.seen.extend(p.text for p in prompts)
        return [Candidates(self.masks, self.scores) for _ in prompts]


def test_instances_are_matched_by_s1s_oracle_and_score_rules() -> None:
    """Truth: a disc. Instances: far away (best score), a sliver of it (second score), the disc
    itself (worst score). Oracle: the disc; score rule: the best-scored overlapping one, the
    sliver; both in score order, as S1 stores them. Two masks of one object share one call."""
    truth = disc(32, 32, 8)
    far, sliver = disc(8, 8, 4), truth & (np.mgrid[:64, :64][1] < 28)
    model = Instances(np.stack([far, sliver, truth]), [0.9, 0.8, 0.3])
    truths = [Truth("a", "CT/liver", truth, truth), Truth("b", "CT/liver", far, far)]
    answers = dict((t.mask_id, a) for t, a in text_answers(model, None, truths, {"liver": "liv"}))
    assert model.seen == ["liv"]  # one decode for the image's one phrase
    a = answers["a"]
    assert np.array_equal(a.masks[0], sliver) and np.array_equal(a.masks[1], truth)
    np.testing.assert_array_equal(a.scores, [0.8, 0.3])
    b = answers["b"]  # the far instance is both the best Dice and the best score
    assert np.array_equal(b.masks[0], far) and np.array_equal(b.masks[1], far)


def test_no_instance_or_none_overlapping_is_an_empty_answer() -> None:
    truth = disc(32, 32, 8)
    for model in (Instances(np.zeros((0, 64, 64), bool), []),
                  Instances(disc(5, 5, 3)[None], [0.9])):  # fmt: skip
        [(_, answer)] = text_answers(model, None, [Truth("a", "CT/liver", truth, truth)],
                                     {"liver": "liver"})  # fmt: skip
        assert not answer.masks.any() and np.isnan(answer.scores).all()


def test_the_stand_in_answers_with_components_largest_first_or_nothing() -> None:
    image = np.full((64, 64), 40, np.uint8)
    image[disc(20, 20, 9)] = 200
    image[disc(45, 45, 5)] = 200
    model = OtsuText()
    embedding = model.embed(image)
    whole, boxed = model.decode(embedding, [Prompt("text", text="x"),
                                            Prompt("text-box", text="x",
                                                   box=np.array([35, 35, 60, 60], np.float32))])
    assert len(whole.scores) == 2 and whole.scores[0] > whole.scores[1]
    assert np.array_equal(whole.masks[0], disc(20, 20, 9))
    assert np.array_equal(whole.masks[1], disc(45, 45, 5))
    assert len(boxed.scores) == 1 and np.array_equal(boxed.masks[0], disc(45, 45, 5))
    (flat,) = model.decode(model.embed(np.full((64, 64), 7, np.uint8)), [Prompt("text", text="x")])
    assert len(flat.scores) == 0 and flat.masks.shape == (0, 64, 64)
    # a box alone (S5) gets one answer, always
    box = np.array([0, 0, 63, 63], np.float32)
    (s5,) = model.decode(embedding, [Prompt("S5", box=box)])
    assert len(s5.scores) == 1 and np.array_equal(s5.masks[0], disc(20, 20, 9))
    (empty,) = model.decode(model.embed(np.full((64, 64), 7, np.uint8)), [Prompt("S5", box=box)])
    assert len(empty.scores) == 1 and not empty.masks.any()


def test_the_text_table_counts_empty_answers_apart() -> None:
    rows = [
        ("text", "oracle", "a", 0.8, False), ("text", "oracle", "b", 0.0, True),
        ("text", "score", "a", 0.6, False), ("text", "score", "b", 0.0, True),
        ("text-box", "single", "a", 0.9, False), ("text-box", "single", "b", 0.7, False),
        ("S5", "single", "a", 0.95, False), ("S5", "single", "b", 0.85, False),
    ]  # fmt: skip
    scores = pd.DataFrame(rows, columns=["strategy", "selection", "mask_id", "dice",
                                         "empty_prediction"]).assign(
        model="m", target="CT/liver", click=0)  # fmt: skip
    table = text_prompts(scores).set_index(["strategy", "selection"])
    assert list(text_prompts(scores).columns) == TEXT_COLUMNS
    oracle = table.loc[("text", "oracle")]
    assert oracle.n_masks == 2 and oracle.empty_answers == pytest.approx(0.5)
    assert oracle.dice == pytest.approx(0.4) and oracle.dice_answered == pytest.approx(0.8)
    assert oracle.dice_s5 == pytest.approx(0.9)  # S5's single answer on the same masks
    assert table.loc[("text-box", "single")].empty_answers == 0
    assert text_prompts(scores[scores.strategy == "S5"]).empty


def test_text_box_matches_each_masks_own_answer_and_nothing_is_one_empty_mask() -> None:
    """text-box: one prompt per mask (phrase + its tight box), its instances matched by the same
    two rules, so two rows per mask whatever the count; a model that answers a box prompt with
    no mask at all (any strategy) stores one empty mask."""
    from cosmos_bench.core import rle
    from cosmos_bench.infer.image import Embedded, Study, prompt_rows, text_rows

    truth = disc(32, 32, 8)
    study = Study(phrases={"liver": "liver"})
    boxed = Instances(np.stack([disc(5, 5, 3), truth]), [0.9, 0.4])
    one = [Truth("a", "CT/liver", truth, truth)]
    rows = list(text_rows(Embedded(boxed, None, one), "text-box", study))
    assert [(r["strategy"], r["candidate"], r["n_candidates"]) for r in rows] == [
        ("text-box", 0, 2), ("text-box", 1, 2)]  # fmt: skip
    assert all(rle.decode(r["rle"], (64, 64)).sum() == truth.sum() for r in rows)
    assert boxed.seen == ["liver"]  # the phrase travels with the box
    nothing = Instances(np.zeros((0, 64, 64), bool), [])
    [row] = prompt_rows(Embedded(nothing, None, one), ["S5"], "selected", study)
    assert (row["strategy"], row["candidate"], row["n_candidates"]) == ("S5", 0, 1)
    assert np.isnan(row["model_score"]) and not rle.decode(row["rle"], (64, 64)).any()
