"""Statistics the report rests on: case-bootstrap confidence intervals and partial correlations.

Masks of one patient are not independent (same scanner, same anatomy, neighbouring slices), so
every confidence interval resamples *cases* with replacement and recomputes the mask-weighted
mean of the resample (a cluster bootstrap). Each interval draws from its own generator, seeded
from the run's seed and the group's name, so adding a dataset to a run leaves the intervals of
every other group unchanged.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
from scipy import stats as scipy_stats

N_BOOTSTRAP = 2000
CI_LEVEL = 0.95


def group_seed(seed: int, key: Sequence[object]) -> np.random.Generator:
    """A generator that depends only on the run's seed and the group's key, not on order."""
    digest = zlib.crc32("\x1f".join(map(str, key)).encode("utf-8"))
    return np.random.default_rng([seed, digest])


def case_bootstrap_ci(
    values: np.ndarray,
    cases: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = N_BOOTSTRAP,
    level: float = CI_LEVEL,
) -> tuple[float, float]:
    """Percentile CI of the mean of `values`, resampling whole cases with replacement.

    A resample weights each case by how often it was drawn, so its mean is
    sum(w_c * S_c) / sum(w_c * N_c) with S_c, N_c the case's sum and mask count. NaN when there
    are fewer than two cases: one patient gives no spread to resample."""
    values = np.asarray(values, dtype=np.float64)
    _, case_idx = np.unique(np.asarray(cases), return_inverse=True)
    n_cases = int(case_idx.max()) + 1 if len(values) else 0
    if n_cases < 2:
        return float("nan"), float("nan")
    sums = np.bincount(case_idx, weights=values, minlength=n_cases)
    counts = np.bincount(case_idx, minlength=n_cases).astype(np.float64)
    draws = rng.multinomial(n_cases, np.full(n_cases, 1.0 / n_cases), size=n_boot)
    means = (draws @ sums) / (draws @ counts)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _residuals(target: np.ndarray, controls: np.ndarray) -> np.ndarray:
    """What is left of `target` after a least-squares fit on an intercept and `controls`."""
    design = np.column_stack([np.ones(len(target)), controls])
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return target - design @ coef


def partial_spearman(y: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman partial correlation of `y` with each column of `factors`, controlling for the
    other columns, and its two-sided p-value (t test with n - 2 - k degrees of freedom).

    Ranks (ties averaged) replace the values, then both the ranks of y and of the factor are
    residualised on the other factors' ranks and the residuals are correlated: the definition
    the paper's Table 6 uses. A factor that is constant, or fully explained by the others, gets
    NaN, as does every factor when n <= k + 2."""
    y = np.asarray(y, dtype=np.float64)
    factors = np.asarray(factors, dtype=np.float64).reshape(len(y), -1)
    n, k = factors.shape
    rho = np.full(k, np.nan)
    p = np.full(k, np.nan)
    dof = n - 2 - (k - 1)
    if dof < 1:
        return rho, p
    ranked_y = scipy_stats.rankdata(y)
    ranked = np.column_stack([scipy_stats.rankdata(col) for col in factors.T])
    for j in range(k):
        others = np.delete(ranked, j, axis=1)
        ry = _residuals(ranked_y, others)
        rx = _residuals(ranked[:, j], others)
        scale = np.sqrt((ry @ ry) * (rx @ rx))
        if scale <= 1e-9 * n**3:  # ranks are O(n): residuals of a constant vanish to rounding
            continue
        r = float(np.clip((ry @ rx) / scale, -1.0, 1.0))
        rho[j] = r
        t = r * np.sqrt(dof / max(1.0 - r * r, 1e-300))
        p[j] = float(2.0 * scipy_stats.t.sf(abs(t), dof))
    return rho, p
