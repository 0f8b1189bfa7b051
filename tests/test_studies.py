"""Study tables on hand-made per-mask scores with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cosmos_bench.report.tables.studies import JITTER_COLUMNS, jitter_drop


def masks(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["model", "strategy", "mask_id", "dice"]).assign(
        selection="single"
    )


def test_jitter_drop_is_paired_on_the_same_masks() -> None:
    table = jitter_drop(
        masks(
            [
                ("m", "S5", "a", 0.9),
                ("m", "S5", "b", 0.7),
                ("m", "S5", "c", 0.1),  # never jittered: not part of the pair
                ("m", "S5-box-shift-0-10", "a", 0.8),
                ("m", "S5-box-shift-0-10", "b", 0.4),
                ("m", "S5-box-shift-10-20", "a", 0.5),
                ("m", "S2", "a", 0.3),
                ("m", "S2-centre-only-0-10", "a", 0.35),
            ]
        )
    )
    assert list(table.columns) == JITTER_COLUMNS
    rows = {(r.base, r.mode, r.lo, r.hi): r for r in table.itertuples()}
    shift = rows["S5", "box-shift", 0, 10]
    assert shift.n_masks == 2 and shift.dice_base == pytest.approx(0.8)
    assert shift.dice_jittered == pytest.approx(0.6) and shift.dice_drop == pytest.approx(0.2)
    assert rows["S5", "box-shift", 10, 20].dice_drop == pytest.approx(0.4)
    assert rows["S2", "centre-only", 0, 10].dice_drop == pytest.approx(-0.05)


def test_no_jitter_gives_an_empty_table() -> None:
    table = jitter_drop(masks([("m", "S5", "a", 0.9)]))
    assert table.empty and list(table.columns) == JITTER_COLUMNS


def test_click_curves_and_noc_on_known_sessions() -> None:
    from cosmos_bench.report.tables.studies import click_curves, noc_table

    sessions = {"a": [0.5, 0.86, 0.95], "b": [0.91, 0.92, 0.93], "c": [0.1, 0.2, 0.3]}
    rows = [
        {"model": "m", "strategy": "clicks-S5", "mask_id": mask, "click": k, "dice": d,
         "iou": d / (2 - d)}  # fmt: skip
        for mask, dices in sessions.items()
        for k, d in enumerate(dices, 1)
    ]
    rows.append({"model": "m", "strategy": "S5", "mask_id": "a", "click": 0, "dice": 0.7,
                 "iou": 0.54})  # fmt: skip
    scores = pd.DataFrame(rows)
    curves = click_curves(scores)
    assert curves.click.tolist() == [1, 2, 3]
    assert curves.mean_dice.tolist() == pytest.approx([0.5033333, 0.66, 0.7266667])
    (noc,) = noc_table(scores).itertuples()
    # NoC@85: a 2, b 1, c never (3); NoC@90: a 3, b 1, c 3
    assert (noc.n_masks, noc.n_clicks) == (3, 3)
    assert noc.noc85_dice == pytest.approx(2.0) and noc.noc90_dice == pytest.approx(7 / 3)
    assert noc.dice_last == pytest.approx((0.95 + 0.93 + 0.3) / 3)
    # on IoU (RITM's compute_noc_metric, re-derived: first index with IoU >= thr, + 1, else
    # max_clicks; over_max counts max_clicks): IoU of a = 0.33, 0.75, 0.90; b = 0.83, 0.85, 0.87
    ritm = {thr: [next((k + 1 for k, v in enumerate(d) if v / (2 - v) >= thr), 3)
                  for d in sessions.values()] for thr in (0.85, 0.90)}  # fmt: skip
    assert ritm == {0.85: [3, 2, 3], 0.90: [3, 3, 3]}
    assert noc.noc85_iou == pytest.approx(8 / 3) and noc.noc90_iou == pytest.approx(3.0)
    assert (noc.nof85_iou, noc.nof90_iou) == (2, 3)


def test_everything_vs_box_pairs_rules_and_single_answers() -> None:
    from cosmos_bench.report.tables.studies import everything_vs_box

    rows = [
        ("m", "S1", "a", 0.4, "oracle"),
        ("m", "S1", "a", 0.1, "score"),
        ("m", "S1", "b", 0.6, "oracle"),
        ("m", "S1", "b", 0.6, "score"),
        ("m", "S5", "a", 0.9, "single"),
        ("m", "S5", "b", 0.8, "single"),
    ]
    frame = pd.DataFrame(rows, columns=["model", "strategy", "mask_id", "dice", "selection"])
    table = everything_vs_box(frame.assign(target="CT/liver")).set_index("selection")
    assert table.loc["oracle"].dice_s1 == pytest.approx(0.5)
    assert table.loc["oracle"].dice_s5 == pytest.approx(0.85)
    assert table.loc["score"].dice_gap == pytest.approx((0.8 + 0.2) / 2)


def test_the_cvpr25_table_scores_as_the_challenge_script() -> None:
    """Two images of one and two masks: per image the mean over its masks at each of the six
    steps; AUC = scipy's cumulative_trapezoid over the five click steps at x = 0..4, its last
    value (CVPR25_iter_eval.py); final = the sixth step; then the mean over images."""
    from scipy import integrate

    from cosmos_bench.report.tables.studies import cvpr25_table

    dice = {"a#1": [0.5, 0.6, 0.7, 0.8, 0.8, 0.9], "b#1": [0.2, 0.4, 0.4, 0.5, 0.6, 0.6],
            "b#2": [0.4, 0.4, 0.6, 0.7, 0.8, 1.0]}  # fmt: skip
    rows = [
        {"model": "m", "strategy": "cvpr25", "uid": mask.split("#")[0], "mask_id": mask,
         "click": k, "dice": d, "nsd_medsam": d / 2}  # fmt: skip
        for mask, values in dice.items()
        for k, d in enumerate(values, 1)
    ]
    (row,) = cvpr25_table(pd.DataFrame(rows)).itertuples()
    per_image = {"a": np.array(dice["a#1"]), "b": (np.array(dice["b#1"]) + dice["b#2"]) / 2}

    def auc(values):
        return integrate.cumulative_trapezoid(values[-5:], np.arange(5))[-1]

    assert (row.dimension, row.n_cases, row.n_masks) == ("2d", 2, 3)
    assert row.dsc_box == pytest.approx(np.mean([v[0] for v in per_image.values()]))
    assert row.dsc_final == pytest.approx(np.mean([v[-1] for v in per_image.values()]))
    assert row.dsc_auc == pytest.approx(np.mean([auc(v) for v in per_image.values()]))
    assert row.nsd_auc == pytest.approx(row.dsc_auc / 2)
    # in 3D a case is a volume, its classes its objects (the propagation study's cvpr25 runs)
    objects = pd.DataFrame([
        {"model": "m", "protocol": "cvpr25", "dataset": "d", "case": case, "object_id": obj,
         "dice": 0.0, "nsd": 0.0, "dice_steps": dice[key], "nsd_steps": [v / 2 for v in dice[key]]}
        for case, obj, key in [("a", "d/a#1", "a#1"), ("b", "d/b#1", "b#1"), ("b", "d/b#2", "b#2")]
    ] + [{"model": "m", "protocol": "box-chain", "dataset": "d", "case": "a",
          "object_id": "d/a#1", "dice": 0.0, "nsd": 0.0, "dice_steps": [],
          "nsd_steps": []}])  # fmt: skip
    two, three = cvpr25_table(pd.DataFrame(rows), objects).itertuples()
    assert (three.dimension, three.n_cases, three.n_masks) == ("3d", 2, 3)
    for column in ("dsc_box", "dsc_final", "nsd_final", "dsc_auc", "nsd_auc"):
        assert getattr(three, column) == pytest.approx(getattr(two, column))
    # a volume model's native runs (cvpr25-3d) are rows of their own beside the box chain's
    native = objects[objects["protocol"] == "cvpr25"].assign(protocol="cvpr25-3d", model="v")
    table = cvpr25_table(pd.DataFrame(rows), pd.concat([objects, native], ignore_index=True))
    assert list(zip(table["model"], table["dimension"], strict=True)) == [
        ("m", "2d"), ("m", "3d"), ("v", "3d-native")]
    assert table.loc[2, "dsc_auc"] == pytest.approx(three.dsc_auc)
