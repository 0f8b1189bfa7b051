"""The case gallery, the predictions' shapes (scored with them), the failure taxonomy and the
paper table, on a tiny harmonized dataset inferred by a fake two-candidate model (seconds, no
weights)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT

from cosmos_bench.catalog.cards import load_card, load_ontology
from cosmos_bench.contracts import PREDICTION_SCHEMA, SCORE_SCHEMA
from cosmos_bench.core import rle
from cosmos_bench.core.prompt import tight_box
from cosmos_bench.core.strategies import Prompt, make_prompt, prompt_seed
from cosmos_bench.core.tables import write_table
from cosmos_bench.harmonize.dataset import harmonize
from cosmos_bench.infer.image import Study
from cosmos_bench.infer.shard import infer_shard
from cosmos_bench.models.base import Candidates, PromptableModel
from cosmos_bench.report.build import build_report
from cosmos_bench.report.gallery.cases import choose_cases, picture_name, shown_rows
from cosmos_bench.report.gallery.job import build_gallery
from cosmos_bench.report.gallery.job import main as gallery_main
from cosmos_bench.report.gallery.manifest import read_manifest
from cosmos_bench.report.gallery.overlay import THUMB_SIDE, object_window, pictures
from cosmos_bench.report.gallery.replay import replay
from cosmos_bench.report.tables.paper import load_paper, paper_table
from cosmos_bench.report.tables.taxonomy import failures
from cosmos_bench.score.shape import Shape, shape_of
from cosmos_bench.score.shard import score_shard
from cosmos_bench.store.shards import ShardReader
from cosmos_bench.store.truth import Truth

STRATEGIES = ["S5", "S2", "S5-box-shift-0-10", "clicks-S5"]
MODEL = "two-guesses"


class TwoGuesses(PromptableModel):
    """Two candidates per prompt: the ellipse inside the box (or a disc at the first point)
    and the same shifted by 4 px, which the model itself rates higher, so the oracle and the
    model's own choice differ. Records every prompt it decodes."""

    accepts = frozenset({"box", "point"})

    def __init__(self) -> None:
        self.seen: list[Prompt] = []

    def embed(self, image: np.ndarray) -> tuple[int, int]:
        return image.shape[:2]

    def decode(self, embedding: tuple[int, int], prompts: list[Prompt]) -> list[Candidates]:
        h, w = embedding
        yy, xx = np.mgrid[:h, :w]
        answers = []
        for prompt in prompts:
            self.seen.append(prompt)
            if prompt.box is not None:
                x0, y0, x1, y1 = prompt.box
                cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 + 1, (y1 - y0) / 2 + 1
            else:
                (cx, cy), rx, ry = prompt.points[0], 6.0, 6.0
            good = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
            shifted = np.roll(good, 4, axis=1)
            answers.append(Candidates(np.stack([good, shifted]), np.array([0.5, 0.9])))
        return answers


def same_prompt(a: Prompt, b: Prompt) -> bool:
    def equal(x: np.ndarray | None, y: np.ndarray | None) -> bool:
        return (x is None and y is None) or (
            x is not None and y is not None and np.allclose(x, y, atol=1e-4)
        )

    return equal(a.box, b.box) and equal(a.points, b.points) and equal(
        a.point_labels, b.point_labels
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TwoGuesses]:
    """results/{harmonized,predictions,scores} of one tiny CT dataset and the fake model."""
    root = tmp_path_factory.mktemp("gallery")
    import shutil

    from helpers import TINY_CARD, phantom, write_volume

    for sub in ("resources", "config", "workflow/schemas"):
        shutil.copytree(ROOT / sub, root / sub)
    image, labels = phantom()
    write_volume(image, root / "raw" / "imagesTr" / "c1_0000.nii.gz", (0.8, 0.8, 3.0))
    write_volume(labels, root / "raw" / "labelsTr" / "c1.nii.gz", (0.8, 0.8, 3.0))
    (root / "config" / "datasets" / "tiny.yaml").write_text(TINY_CARD)
    card = load_card(root, "tiny", load_ontology(root))
    results = root / "results"
    harmonized = results / "harmonized" / "tiny"
    index = harmonize(card, root / "raw", harmonized / "index.parquet", harmonized / "shards")
    shard = harmonized / "shards" / "shard-00000.h5"
    model = TwoGuesses()
    predictions = infer_shard(model, index, shard, STRATEGIES, study=Study(seed=7, clicks=3))
    out = results / "predictions" / MODEL / "tiny" / "shard-00000.parquet"
    out.parent.mkdir(parents=True)
    write_table(predictions, out, PREDICTION_SCHEMA, {}, row_groups_by="target")
    scores = score_shard(predictions, index, shard, MODEL)
    (results / "scores" / MODEL).mkdir(parents=True)
    write_table(scores, results / "scores" / MODEL / "tiny.parquet", SCORE_SCHEMA, {})
    return results, model


def test_cases_are_worst_median_best_and_the_largest_gap() -> None:
    rows = [
        {"mask_id": f"d/c/z{i}#1", "uid": f"d/c/z{i}", "dataset": "d", "case": "c",
         "target": "CT/liver", "model": "m", "strategy": "S5", "repeat": 0, "click": 0,
         "selection": selection, "candidate": 0, "dice": dice}
        for i, (oracle, score) in enumerate([(0.9, 0.9), (0.5, 0.1), (0.7, 0.6), (0.7, 0.7)])
        for selection, dice in (("oracle", oracle), ("score", score))
    ]  # fmt: skip
    rows.append({**rows[0], "strategy": "S5-box-shift-0-10"})  # jittered: left out
    rows.append({**rows[0], "strategy": "clicks-S5", "selection": "single", "click": 1})
    rows.append({**rows[0], "strategy": "clicks-S5", "selection": "single", "click": 2,
                 "dice": 0.95})  # fmt: skip
    cases = choose_cases(pd.DataFrame(rows))
    s5 = cases[cases.strategy == "S5"]
    assert list(s5.role) == ["worst", "median", "best", "gap: oracle", "gap: score"]
    # oracle Dice 0.5, 0.7, 0.7, 0.9: the lower median, ties by mask id
    assert list(s5.mask_id) == ["d/c/z1#1", "d/c/z2#1", "d/c/z0#1", "d/c/z1#1", "d/c/z1#1"]
    assert list(s5.selection) == ["oracle"] * 4 + ["score"]
    clicks = cases[cases.strategy == "clicks-S5"]
    assert list(clicks.role) == ["worst = median = best"] and list(clicks.click) == [2]
    assert "S5-box-shift-0-10" not in set(cases.strategy)
    assert cases.file.str.fullmatch(r"case-[0-9a-f]{16}").all()
    assert picture_name("m", "S5", "oracle", "a", 0, 0) != picture_name("m", "S5", "score", "a",
                                                                         0, 0)  # fmt: skip
    assert len(shown_rows(pd.DataFrame(rows))) == len(rows) - 2  # jittered and click 1 out


def test_replayed_prompts_are_the_ones_inference_gave(run: tuple[Path, TwoGuesses]) -> None:
    results, model = run
    index = pd.read_parquet(results / "harmonized" / "tiny" / "index.parquet")
    with ShardReader(results / "harmonized" / "tiny" / "shards" / "shard-00000.h5") as reader:
        row = index.iloc[len(index) // 2]
        gt = reader.mask(int(row["row"]), int(row["layer"]), int(row["label"]))
    truth = Truth(row["mask_id"], row["target"], gt, gt)
    for strategy in ("S5", "S2"):
        assert same_prompt(replay(strategy, truth, 0, 7).prompt, make_prompt(strategy, gt))
    jittered = "S5-box-shift-0-10"
    rng = np.random.default_rng(prompt_seed(7, row["mask_id"], jittered, 0))
    assert same_prompt(replay(jittered, truth, 0, 7).prompt, make_prompt(jittered, gt, rng))
    assert not same_prompt(replay(jittered, truth, 0, 8).prompt, make_prompt(jittered, gt, rng))
    assert replay("S1", truth, 0, 7).prompt is None
    # inference's own wrappers give the same prompts, also for a mask taken at a larger source
    source = np.kron(gt, np.ones((2, 3), bool))
    larger = Truth(row["mask_id"], row["target"], gt, source)
    for strategy in ("S5", "S2", "S4", "S6", jittered, "S2-all-points-5-10"):
        for seed, repeat in ((7, 0), (8, 2)):
            ours = replay(strategy, larger, repeat, seed).prompt
            theirs = larger.prompt(
                strategy, Study(seed).rng(row["mask_id"], strategy, repeat)
            )
            assert same_prompt(ours, theirs), strategy
    # every replayed prompt of the gallery is one the model was given
    cases = choose_cases(pd.read_parquet(results / "scores" / MODEL / "tiny.parquet"))
    clicks = cases[cases.strategy == "clicks-S5"]
    assert set(clicks.click) == {3}


def test_the_gallery_draws_every_case_from_the_shards(run: tuple[Path, TwoGuesses]) -> None:
    results, model = run
    out = results / "report" / "gallery"
    stored = sorted((results / "predictions").rglob("shard-*.parquet"))
    index = results / "harmonized" / "tiny" / "index.parquet"
    cases = build_gallery([results / "scores" / MODEL / "tiny.parquet"], [index], stored, out, 7)
    assert set(cases.target) == {"CT/liver", "CT/lesion"}
    assert set(cases.strategy) == {"S5", "S2", "clicks-S5"}
    assert {"worst", "median", "best", "gap: oracle", "gap: score"} <= set(cases.role)
    for file in cases.file:
        assert (out / f"{file}.png").read_bytes()[:4] == b"\x89PNG"
        assert (out / f"{file}-thumb.png").read_bytes()[:4] == b"\x89PNG"
    manifest = read_manifest(out)
    assert len(manifest) == len(cases) and (manifest.note == cases.note).all()
    clicks = manifest[manifest.strategy == "clicks-S5"]
    assert clicks.note.str.startswith("after click 3:").all()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    gallery_main(["--scores", str(results / "scores" / MODEL / "tiny.parquet"),
                  "--indexes", str(index),
                  "--predictions", *map(str, stored), "--seed", "7",
                  "--resolution", "native", "--out", str(out)])  # fmt: skip
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # byte-stable
    assert json.loads((out / "manifest.json").read_text())["version"] == 1


def test_replayed_click_prompts_match_the_session(run: tuple[Path, TwoGuesses]) -> None:
    """Every gallery case's prompt, rebuilt, is one the model decoded (clicks included)."""
    results, model = run
    index = pd.read_parquet(results / "harmonized" / "tiny" / "index.parquet").set_index("mask_id")
    cases = choose_cases(pd.read_parquet(results / "scores" / MODEL / "tiny.parquet"))
    predictions = pd.read_parquet(results / "predictions" / MODEL / "tiny" / "shard-00000.parquet")
    from cosmos_bench.report.gallery.job import chosen_mask

    with ShardReader(results / "harmonized" / "tiny" / "shards" / "shard-00000.h5") as reader:
        for case in cases.itertuples():
            where = index.loc[case.mask_id]
            gt = reader.mask(int(where["row"]), int(where["layer"]), int(where["label"]))
            truth = Truth(case.mask_id, case.target, gt, gt)
            same = predictions[(predictions.mask_id == case.mask_id)
                               & (predictions.strategy == case.strategy)]  # fmt: skip
            earlier = [chosen_mask(same[(same.click == k) & (same.n_candidates == 1)], 0)
                       for k in range(1, case.click)]  # fmt: skip
            shown = replay(case.strategy, truth, case.repeat, 7, case.click, earlier).prompt
            assert any(same_prompt(shown, seen) for seen in model.seen), case


def test_thumbnails_zoom_on_the_object() -> None:
    gt = np.zeros((200, 300), bool)
    gt[100:110, 150:160] = True
    prompt = Prompt("S5", box=np.array([150, 100, 159, 109], np.float32))
    x0, y0, x1, y1 = object_window(gt, prompt)
    assert x1 - x0 == y1 - y0 == 48 and x0 <= 150 and x1 >= 160
    image = np.full((200, 300), 90, np.uint8)
    full, thumb = pictures(image, gt, np.roll(gt, 3, axis=0), prompt)
    import cv2

    shown = cv2.imdecode(np.frombuffer(thumb, np.uint8), cv2.IMREAD_COLOR)
    whole = cv2.imdecode(np.frombuffer(full, np.uint8), cv2.IMREAD_COLOR)
    assert shown.shape[:2] == (THUMB_SIDE, THUMB_SIDE)
    assert whole.shape[:2] == (341, 512)
    assert len(np.unique(shown.reshape(-1, 3), axis=0)) > 2  # contours and box drawn


def test_shapes_measure_components_and_leaks() -> None:
    pred = np.zeros((20, 20), bool)
    pred[2:5, 2:5] = True
    pred[10:15, 10:15] = True
    assert shape_of(pred, np.array([10, 10, 14, 14])) == Shape(2, 9)
    assert shape_of(pred, np.array([0, 0, 0, 0])) == Shape(2, 34)  # every pixel outside
    assert shape_of(np.zeros((4, 4), bool), np.array([0, 0, 1, 1])) == Shape(0, 0)
    gt = np.zeros((9, 12), bool)
    gt[2:5, 3:11] = True
    assert tight_box(gt).tolist() == [3, 2, 10, 4]


def test_scoring_records_the_chosen_candidate_and_its_shape(run: tuple[Path, TwoGuesses]) -> None:
    """Each score row names the candidate its rule chose; decoding that candidate gives the
    area, pieces and leak scoring recorded (the ground truth's tight box from the shard)."""
    results, _ = run
    scores = pd.read_parquet(results / "scores" / MODEL / "tiny.parquet")
    predictions = pd.read_parquet(results / "predictions" / MODEL / "tiny" / "shard-00000.parquet")
    index = pd.read_parquet(results / "harmonized" / "tiny" / "index.parquet").set_index("mask_id")
    keys = ["mask_id", "strategy", "repeat", "click", "candidate"]
    rows = scores.merge(predictions[[*keys, "rle", "height", "width"]], on=keys)
    assert len(rows) == len(scores) and set(scores.candidate) == {0, 1}
    assert (scores[scores.selection == "oracle"].candidate == 0).any()
    with ShardReader(results / "harmonized" / "tiny" / "shards" / "shard-00000.h5") as reader:
        for row in rows.itertuples():
            where = index.loc[row.mask_id]
            gt = reader.mask(int(where["row"]), int(where["layer"]), int(where["label"]))
            pred = rle.decode(np.asarray(row.rle), (row.height, row.width))
            shape = shape_of(pred, tight_box(gt))
            assert (row.pred_area_px, row.pred_components, row.pred_outside_box_px) == (
                pred.sum(), shape.pred_components, shape.pred_outside_box_px)


def test_failure_shares_per_target(run: tuple[Path, TwoGuesses]) -> None:
    results, _ = run
    scores = pd.read_parquet(results / "scores" / MODEL / "tiny.parquet")
    table = failures(scores)
    assert set(table.selection) == {"oracle", "score"}
    assert set(table.strategy) == {"S5", "S2"}
    s5 = table[table.strategy == "S5"].set_index(["selection", "target"])
    assert s5.loc[("score", "CT/lesion"), "leaking"] > 0  # 4 px off a small object's box
    assert (s5.loc["oracle", "leaking"] == 0).all()
    assert (table.n_shapes == table.n_predictions).all()


def test_the_paper_table_says_which_rows_compare() -> None:
    paper = load_paper(ROOT / "resources" / "paper_results.yaml")
    for entry in paper["published"]:
        assert entry["source"] and 0 < entry["value"] < 1
    overall = pd.DataFrame({
        "model": ["litemedsam", "sam-vit-b", "sam-vit-b"], "strategy": ["S5", "S5", "S5"],
        "selection": ["single", "oracle", "score"], "dice_mask_weighted": [0.9, 0.8, 0.7],
    })  # fmt: skip
    jitter = pd.DataFrame({
        "model": ["sam-vit-b"], "base": ["S5"], "mode": ["box-shift"], "lo": [20], "hi": [30],
        "selection": ["oracle"], "dice_drop": [0.2],
    })  # fmt: skip
    finetune = pd.DataFrame(columns=["model", "strategy", "selection", "target",
                                     "mean_difference"])  # fmt: skip
    table = paper_table({"overall": overall, "jitter_drop": jitter, "finetune": finetune}, paper)
    mean = table[table.quantity == "mean Dice"].set_index("model")
    assert len(mean) == 2  # the score rule is not the paper's
    assert "ViT-B and SAM ViT-H only" in mean.loc["litemedsam", "note"]
    assert "Fig. 6" in mean.loc["sam-vit-b", "note"]
    assert (mean.comparable == "no").all() and mean.delta.isna().all()
    drop = table[(table.quantity.str.startswith("Dice drop")) & (table.strategy == "S5")]
    assert drop.iloc[0]["comparable"] == "approximate"
    assert drop.iloc[0]["delta"] == pytest.approx(0.2 - 0.241)
    assert sorted(drop.paper) == [0.241, 0.299]  # two quotes of the S5 drop disagree: both kept
    assert all(e["source"] and isinstance(e["secondary"], bool) for e in paper["context"])
    s2 = table[(table.quantity.str.startswith("Dice drop")) & (table.strategy == "S2")]
    assert s2.iloc[0]["comparable"] == "no" and "not in this run" in s2.iloc[0]["note"]
    gains = table[table.quantity.str.startswith("fine-tuning")]
    assert set(gains.model) == {"sam-vit-b", "sam-vit-h"} and (gains.comparable == "no").all()


def test_the_report_opens_with_a_figure_and_links_the_gallery(
    run: tuple[Path, TwoGuesses], tmp_path: Path
) -> None:
    results, _ = run
    gallery = results / "report" / "gallery"
    index = results / "harmonized" / "tiny" / "index.parquet"
    build_gallery([results / "scores" / MODEL / "tiny.parquet"], [index],
                  sorted((results / "predictions").rglob("shard-*.parquet")), gallery, 7)
    html_path = results / "report" / "index.html"
    build_report([results / "scores" / MODEL / "tiny.parquet"], tmp_path / "tables",
                 tmp_path / "figures", html_path, {"seed": 7}, n_boot=50,
                 gallery=gallery, paper=ROOT / "resources" / "paper_results.yaml")  # fmt: skip
    page = html_path.read_text("utf-8")
    body = page.split("<body>", 1)[1]
    assert body.index('id="heatmap"') < body.index('id="summary"') < body.index('id="gallery"')
    assert body.index('id="gallery"') < body.index('id="per-target"')
    assert '<details class="section" id="per-target">' in body  # tables collapsed
    links = set(__import__("re").findall(r'(?:src|href)="(gallery/[^"]+)"', page))
    manifest = read_manifest(gallery)
    assert len(links) == 2 * manifest.file.nunique()
    assert all((html_path.parent / link).is_file() for link in links)
    assert 'id="paper-table"' in page and "rows have a comparable published number" in page
    assert 'id="failures-table"' in page and "leaking outside the box" in page
    assert "mean Dice 0." in page and "95% CI" in page  # the heatmap's tooltips
    failures_csv = pd.read_csv(tmp_path / "tables" / "failures.csv")
    assert set(failures_csv.columns) >= {"empty", "leaking", "fragmented"}
