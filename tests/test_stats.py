"""Case-bootstrap CIs, partial correlations and the report's paired tables on known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from cosmos_bench.report.provenance import stage_seconds
from cosmos_bench.report.tables.aggregate import factor_analysis
from cosmos_bench.report.tables.comparisons import model_pairs, oracle_gap, strategy_pairs
from cosmos_bench.report.tables.stats import case_bootstrap_ci, group_seed, partial_spearman


def test_bootstrap_ci_matches_the_normal_interval_of_case_means() -> None:
    """400 cases of 5 identical masks each: the cluster bootstrap must see 400 samples, not 2000,
    so its interval is the normal one of the case means (sd / sqrt(400)), not sqrt(5) narrower."""
    rng = np.random.default_rng(1)
    case_means = rng.normal(0.7, 0.1, 400)
    values = np.repeat(case_means, 5)
    cases = np.repeat(np.arange(400), 5)
    low, high = case_bootstrap_ci(values, cases, np.random.default_rng(2), n_boot=4000)
    half = 1.959964 * case_means.std(ddof=0) / np.sqrt(400)
    assert low == pytest.approx(case_means.mean() - half, abs=0.15 * half)
    assert high == pytest.approx(case_means.mean() + half, abs=0.15 * half)
    naive_half = 1.959964 * values.std() / np.sqrt(len(values))
    assert (high - low) / 2 > 2 * naive_half  # a mask-level bootstrap would be far too narrow


def test_bootstrap_ci_degenerate_cases() -> None:
    rng = np.random.default_rng(0)
    assert case_bootstrap_ci(np.array([0.5, 0.6]), np.array(["a", "a"]), rng) == (
        pytest.approx(float("nan"), nan_ok=True),
        pytest.approx(float("nan"), nan_ok=True),
    )
    constant = case_bootstrap_ci(np.full(6, 0.8), np.array([0, 0, 1, 2, 2, 2]), rng)
    assert constant == pytest.approx((0.8, 0.8))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=30),
    st.integers(0, 2**31 - 1),
)
def test_bootstrap_ci_brackets_the_mean_and_is_seeded(values: list[float], seed: int) -> None:
    values_a = np.asarray(values)
    cases = np.arange(len(values_a)) % max(2, len(values_a) // 2)
    first = case_bootstrap_ci(values_a, cases, group_seed(seed, ("g",)), n_boot=300)
    again = case_bootstrap_ci(values_a, cases, group_seed(seed, ("g",)), n_boot=300)
    assert first == again
    low, high = first
    assert values_a.min() - 1e-12 <= low <= high <= values_a.max() + 1e-12


def test_group_seed_depends_on_the_key_not_on_call_order() -> None:
    a1 = group_seed(0, ("litemedsam", "S5")).random()
    group_seed(0, ("sam", "S2")).random()
    assert group_seed(0, ("litemedsam", "S5")).random() == a1
    assert group_seed(1, ("litemedsam", "S5")).random() != a1


def test_partial_spearman_without_controls_is_scipy_spearman() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=60)
    y = np.exp(x) + rng.normal(scale=0.8, size=60)
    rho, p = partial_spearman(y, x[:, None])
    expected = scipy_stats.spearmanr(y, x)
    assert rho[0] == pytest.approx(expected.statistic, abs=1e-12)
    assert p[0] == pytest.approx(expected.pvalue, rel=1e-9)


def test_partial_spearman_matches_the_first_order_formula() -> None:
    """With one control, the partial correlation of ranks has the closed form
    (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))."""
    rng = np.random.default_rng(4)
    z = rng.normal(size=200)
    x = z + rng.normal(size=200)
    y = z**3 + 0.5 * x + rng.normal(size=200)
    rho, _ = partial_spearman(y, np.column_stack([x, z]))
    r = np.corrcoef(np.vstack([scipy_stats.rankdata(v) for v in (x, y, z)]))
    rxy, rxz, ryz = r[0, 1], r[0, 2], r[1, 2]
    expected_x = (rxy - rxz * ryz) / np.sqrt((1 - rxz**2) * (1 - ryz**2))
    expected_z = (ryz - rxy * rxz) / np.sqrt((1 - rxy**2) * (1 - rxz**2))
    assert rho[0] == pytest.approx(expected_x, abs=1e-12)
    assert rho[1] == pytest.approx(expected_z, abs=1e-12)


def test_partial_spearman_removes_a_confounder() -> None:
    """y depends only on z; x is z plus noise: raw rho(y, x) is large, partial rho ~ 0."""
    rng = np.random.default_rng(5)
    z = rng.uniform(size=3000)
    x = z + rng.normal(scale=0.05, size=3000)
    y = np.sqrt(z) + rng.normal(scale=0.05, size=3000)
    assert scipy_stats.spearmanr(y, x).statistic > 0.8
    rho, p = partial_spearman(y, np.column_stack([x, z]))
    assert abs(rho[0]) < 0.06
    assert rho[1] > 0.5 and p[1] < 1e-100


def test_partial_spearman_constant_factor_and_small_n() -> None:
    rng = np.random.default_rng(6)
    rho, p = partial_spearman(rng.normal(size=20), np.column_stack([rng.normal(size=20),
                                                                     np.ones(20)]))  # fmt: skip
    assert np.isfinite(rho[0]) and np.isnan(rho[1]) and np.isnan(p[1])
    rho, p = partial_spearman(np.arange(3.0), np.column_stack([np.arange(3.0), [1.0, 0, 1]]))
    assert np.isnan(rho).all() and np.isnan(p).all()


def _masks(rows: list[tuple]) -> pd.DataFrame:
    """Per-mask rows (model, strategy, selection, mask, case, dice) with neutral factors."""
    frame = pd.DataFrame(rows, columns=["model", "strategy", "selection", "mask_id", "case",
                                        "dice"])  # fmt: skip
    frame["case_key"] = "d/" + frame["case"]
    return frame


def test_paired_tables_on_known_differences() -> None:
    rows = []
    for i in range(12):
        case = f"c{i // 3}"
        rows += [
            ("sam", "S5", "oracle", f"m{i}", case, 0.9),
            ("sam", "S5", "score", f"m{i}", case, 0.8),
            ("sam", "S2", "oracle", f"m{i}", case, 0.6),
            ("sam", "S2", "score", f"m{i}", case, 0.3),
            ("lite", "S5", "single", f"m{i}", case, 0.85),
        ]
    masks = _masks(rows)
    gap = oracle_gap(masks, seed=0, n_boot=200).set_index("strategy")
    assert gap.loc["S5", "oracle_gap"] == pytest.approx(0.1)
    assert gap.loc["S2", "oracle_gap"] == pytest.approx(0.3)
    assert (gap.loc["S5", "ci_low"], gap.loc["S5", "ci_high"]) == pytest.approx((0.1, 0.1))
    assert gap["n_cases"].tolist() == [4, 4]

    models = model_pairs(masks, seed=0, n_boot=200).set_index("selection")
    # the single-answer model stands in for both of sam's rules; lite - sam
    assert models.loc["oracle", "mean_difference"] == pytest.approx(0.85 - 0.9)
    assert models.loc["score", "mean_difference"] == pytest.approx(0.85 - 0.8)
    assert set(models["a"]) == {"lite"} and models["n_masks"].tolist() == [12, 12]

    strategies = strategy_pairs(masks, seed=0, n_boot=200)
    oracle = strategies.query("model == 'sam' and selection == 'oracle'").iloc[0]
    assert (oracle["a"], oracle["b"]) == ("S2", "S5")
    assert oracle["mean_difference"] == pytest.approx(0.6 - 0.9)


def test_factor_analysis_finds_the_factor_that_drives_dice() -> None:
    rng = np.random.default_rng(7)
    n = 300
    intensity = rng.uniform(0, 40, n)
    rows = {
        "model": "m", "strategy": "S5", "selection": "single",
        "mask_id": [f"k{i}" for i in range(n)], "case_key": [f"c{i % 30}" for i in range(n)],
        "area_px": rng.integers(50, 5000, n), "aspect_ratio": rng.uniform(0.2, 1, n),
        "intensity_difference": intensity, "f_final": rng.uniform(3, 20, n),
        "modality_code": 0,
        "dice": 1 - np.exp(-intensity / 10) + rng.normal(0, 0.05, n),
    }  # fmt: skip
    rows["f_final_paper"] = rows["f_final"]
    table = factor_analysis(pd.DataFrame(rows)).set_index("factor")
    assert table.loc["intensity_difference", "rho"] > 0.8
    assert table.loc["intensity_difference", "p"] < 1e-50
    for factor in ("area_px", "aspect_ratio", "f_final"):
        assert abs(table.loc[factor, "rho"]) < 0.2
    assert np.isnan(table.loc["modality_code", "rho"])  # one modality: no correlation


def test_the_complexity_factor_follows_the_chosen_fourier_rule() -> None:
    """report.complexity: the paper's stopping rule (f_final_paper) or the corrected search
    (f_final); here only the paper's column tracks Dice, so only that rule finds it."""
    rng = np.random.default_rng(3)
    n = 200
    paper = rng.uniform(3, 20, n)
    rows = pd.DataFrame({
        "model": "m", "strategy": "S5", "selection": "single",
        "mask_id": [f"k{i}" for i in range(n)], "case_key": [f"c{i % 20}" for i in range(n)],
        "area_px": rng.integers(50, 5000, n), "aspect_ratio": rng.uniform(0.2, 1, n),
        "intensity_difference": rng.uniform(0, 40, n), "modality_code": 0,
        "f_final_paper": paper, "f_final": rng.uniform(3, 20, n),
        "dice": 1 - paper / 25 + rng.normal(0, 0.02, n),
    })  # fmt: skip
    by_paper = factor_analysis(rows, "paper").set_index("factor")
    by_corrected = factor_analysis(rows, "corrected").set_index("factor")
    assert by_paper.loc["f_final", "rho"] < -0.9
    assert abs(by_corrected.loc["f_final", "rho"]) < 0.2


def test_stage_seconds_sums_the_given_files_per_stage(tmp_path) -> None:
    def bench(path: str, seconds: float | None) -> Path:
        file = tmp_path / path
        file.parent.mkdir(parents=True, exist_ok=True)
        timing = f"{seconds}\t0:00:01\t10\n" if seconds is not None else ""
        file.write_text(f"s\th:m:s\tmax_rss\n{timing}", "utf-8")
        return file

    # a cloud run's local copies sit below the storage prefix, which may itself hold "runs"
    cloud = ".snakemake/storage/s3/runs/benchmarks/runs"
    given = [
        bench("benchmarks/runs/harmonize/demo-ct.tsv", 10.0),
        bench("benchmarks/runs/infer/litemedsam/demo-ct/shard-00000.tsv", 2.5),
        bench(f"{cloud}/infer/litemedsam/demo-ct/shard-00001.tsv", 1.5),
        bench("benchmarks/runs/score/litemedsam/demo-ct/shard-00000.tsv", None),  # killed
    ]
    bench("benchmarks/runs/infer/sam/demo-ct/shard-00000.tsv", 50.0)  # not given: not counted
    times = stage_seconds(given)
    assert times == {"harmonize (1 job)": 10.0, "infer (2 jobs)": 4.0}
    with pytest.raises(ValueError, match="benchmarks/runs"):
        stage_seconds([bench("elsewhere/infer.tsv", 1.0)])
