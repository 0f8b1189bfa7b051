"""The gallery job: draw the cases report.gallery.cases chooses, from the shards and the
predictions.

It reads the score files, picks the cases, then opens each shard that holds one and reads only
the chosen masks' prediction rows (each prediction file's row groups are per target), decoding
the candidate scoring recorded as chosen. Writes into one folder under results/: `{file}.png`
(whole image), `{file}-thumb.png` (zoomed) and `manifest.json` (report.gallery.manifest), the cases
with their Dice and caption notes, which the report reads. The
pictures show patient images, so they stay in the results folder: the HTML page links them.

`python -m cosmos_bench.report.gallery --scores ... --indexes
results/harmonized/{dataset}/index.parquet ... --predictions
results/predictions/{model}/{dataset}/shard-N.parquet ... --seed 0 --out results/report/gallery`
(no prediction files: every case drawn without its prediction)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from cosmos_bench.contracts import RESOLUTIONS
from cosmos_bench.core import rle
from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.core.errors import run_cli
from cosmos_bench.report.gallery.cases import choose_cases
from cosmos_bench.report.gallery.manifest import write_manifest
from cosmos_bench.report.gallery.overlay import pictures
from cosmos_bench.report.gallery.replay import replay
from cosmos_bench.store.index import read_index
from cosmos_bench.store.shards import ShardReader, shard_name
from cosmos_bench.store.truth import Truth, truth_of

_READ = ["mask_id", "uid", "dataset", "case", "target", "model", "strategy", "repeat", "click",
         "selection", "candidate", "dice"]  # fmt: skip
_PREDICTION_COLUMNS = ["mask_id", "strategy", "repeat", "click", "candidate", "n_candidates",
                       "model_score", "height", "width", "rle"]  # fmt: skip


def load_scores(paths: Iterable[Path]) -> pd.DataFrame:
    """The columns the choice needs, from every score file (empty files are skipped)."""
    frames = [pd.read_parquet(p, columns=_READ) for p in paths]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_READ)


def read_predictions(
    path: Path | None, targets: list[str], mask_ids: list[str]
) -> pd.DataFrame:
    """The rows of the chosen masks only (row groups of other targets are skipped); none when
    the predictions are not stored."""
    if path is None or not path.is_file():
        return pd.DataFrame(columns=_PREDICTION_COLUMNS)
    filters = [("target", "in", sorted(set(targets))), ("mask_id", "in", sorted(set(mask_ids)))]
    table = pq.read_table(path, columns=_PREDICTION_COLUMNS, filters=filters)
    return table.to_pandas()


def chosen_mask(rows: pd.DataFrame, candidate: int) -> np.ndarray | None:
    """The prediction's candidate that scoring recorded as chosen (its score row's
    `candidate`), at the stored size; None when it is not stored."""
    row = rows[rows["candidate"] == candidate]
    if row.empty:
        return None
    first = row.iloc[0]
    return rle.decode(np.asarray(first["rle"]), (int(first["height"]), int(first["width"])))


def draw_case(case: pd.Series, image: np.ndarray, truth: Truth, predictions: pd.DataFrame,
              seed: int, rule: str = "ritm", points: str = "paper",
              ) -> tuple[bytes, bytes, str]:  # fmt: skip
    """The case's two pictures and its caption note (how its prompt or prediction is shown)."""
    same = predictions[(predictions["mask_id"] == case["mask_id"])
                       & (predictions["strategy"] == case["strategy"])
                       & (predictions["repeat"] == case["repeat"])]  # fmt: skip
    pred = chosen_mask(same[same["click"] == case["click"]], int(case["candidate"]))
    earlier = []
    for k in range(1, int(case["click"])):
        at_k = same[(same["click"] == k) & (same["n_candidates"] == 1)]  # a session's masks
        mask = chosen_mask(at_k, 0)
        if mask is None:
            break
        earlier.append(mask)
    shown = replay(case["strategy"], truth, int(case["repeat"]), seed, int(case["click"]),
                   earlier, rule, points)  # fmt: skip
    notes = [shown.note] if shown.note else []
    if pred is None:
        notes.append("prediction not stored (infer.store_predictions)")
    elif not pred.any():
        notes.append("empty prediction")
    if not truth.mask.any():
        notes.append("the object has no pixel at the stored size")
    full, thumb = pictures(image, truth.mask, pred, shown.prompt)
    return full, thumb, "; ".join(notes)


def prediction_files(paths: Iterable[Path]) -> dict[tuple[str, str, int], Path]:
    """(model, dataset, shard) -> its prediction file, from paths that end in
    {model}/{dataset}/shard-NNNNN.parquet (as the workflow names them, under any prefix)."""
    found = {}
    for path in map(Path, paths):
        shard = int(path.stem.removeprefix("shard-"))
        found[(path.parent.parent.name, path.parent.name, shard)] = path
    return found


def draw_gallery(
    cases: pd.DataFrame,
    indexes: Iterable[Path],
    predictions: dict[tuple[str, str, int], Path],
    out: Path,
    seed: int,
    resolution: str = "native",
    rule: str = "ritm",
    points: str = "paper",
) -> pd.DataFrame:
    """Draw every case into `out`, one shard open at a time; returns the cases with `note`.
    `resolution` is score.resolution: where inference took the prompts; `rule` clicks.rule,
    the next-click rule a click session's replay follows; `points` infer.points. `indexes` are
    the datasets' harmonized/{dataset}/index.parquet, each beside its shards/ folder."""
    notes: dict[str, str] = {}
    index_of = {Path(path).parent.name: Path(path) for path in indexes}
    for dataset, chosen in cases.groupby("dataset", sort=True):
        index = read_index(index_of[dataset]).set_index("mask_id")
        located = chosen.join(index[["shard", "row", "layer", "label", "scale"]], on="mask_id")
        for shard, in_shard in located.groupby("shard", sort=True):
            shard_path = index_of[dataset].parent / "shards" / shard_name(int(shard))
            with ShardReader(shard_path) as reader:
                for model, of_model in in_shard.groupby("model", sort=True):
                    stored = read_predictions(
                        predictions.get((model, dataset, int(shard))),
                        list(of_model["target"]), list(of_model["mask_id"]),
                    )  # fmt: skip
                    for case in of_model.itertuples(index=False):
                        if case.file in notes:
                            continue
                        truth = truth_of(reader, int(case.row), case, resolution)
                        full, thumb, note = draw_case(
                            pd.Series(case._asdict()), reader.image(int(case.row)), truth,
                            stored, seed, rule, points,
                        )  # fmt: skip
                        write_bytes(out / f"{case.file}.png", full)
                        write_bytes(out / f"{case.file}-thumb.png", thumb)
                        notes[case.file] = note
    return cases.assign(note=cases["file"].map(notes).fillna(""))


def build_gallery(
    score_paths: list[Path],
    indexes: Iterable[Path],
    predictions: Iterable[Path],
    out: Path,
    seed: int,
    resolution: str = "native",
    rule: str = "ritm",
    points: str = "paper",
) -> pd.DataFrame:
    """Choose, draw and list the cases; prints what it did and how long it took."""
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    cases = choose_cases(load_scores(score_paths))
    stored = prediction_files(predictions)
    drawn = draw_gallery(cases, indexes, stored, out, seed, resolution, rule, points)
    write_manifest(drawn, out)
    print(
        f"gallery: {len(drawn)} cases, {drawn['file'].nunique()} pictures, "
        f"{drawn['target'].nunique()} targets in {time.perf_counter() - start:.1f} s -> {out}",
        flush=True,
    )
    return drawn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cosmos_bench.report.gallery",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    parser.add_argument("--scores", nargs="+", type=Path, required=True)
    parser.add_argument(
        "--indexes", nargs="+", type=Path, required=True,
        help="every dataset's harmonized/{dataset}/index.parquet (its shards/ beside it)",
    )  # fmt: skip
    parser.add_argument(
        "--predictions", nargs="*", type=Path, default=[],
        help="the stored prediction files ({model}/{dataset}/shard-N.parquet); none: not stored",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (jittered prompts)")
    parser.add_argument(
        "--resolution", choices=RESOLUTIONS, default="native",
        help="where inference took the prompts (score.resolution)",
    )  # fmt: skip
    parser.add_argument("--click-rule", default="ritm", help="clicks.rule of the run")
    parser.add_argument("--points", default="paper", help="infer.points of the run")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    build_gallery(args.scores, args.indexes, args.predictions, args.out, args.seed,
                  args.resolution, args.click_rule, args.points)  # fmt: skip


if __name__ == "__main__":
    run_cli(main)
