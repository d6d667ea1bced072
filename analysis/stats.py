"""Statistics of one comparison: a tracker configuration against the ``none`` baseline.

Runs come in randomised complete blocks (every configuration once per block), so a
configuration's run and the baseline's run of the same block form a pair and block-to-block
drift cancels. For each comparison:

- point estimate: ``mean(config) / mean(none) - 1`` (a *ratio* metric, a fraction) or
  ``mean(config) - mean(none)`` (a *difference* metric, in the metric's unit), over the pairs;
- 95 % confidence interval: ``scipy.stats.bootstrap``, BCa, resampling whole pairs, fixed seed,
  at a nominal level expanded for small samples (:func:`expanded_level`);
- p-value: Wilcoxon signed-rank test of the paired differences (two-sided);
- minimum detectable effect: the true effect a paired t-test at ``alpha`` would detect with
  ``power``, from the spread of the paired differences.

Where fewer than :data:`MIN_BLOCKS` pairs exist but each side has that many runs, the samples
are treated as independent (bootstrap resampling each side, Mann-Whitney U, Welch's standard
error for the MDE). With fewer runs than that, nothing is estimated and the reason says so.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

MIN_BLOCKS = 3
ALPHA = 0.05
POWER = 0.8
CONFIDENCE = 0.95
MAD_THRESHOLD = 3.5  # modified z-score above which a value is flagged (Iglewicz and Hoaglin)

Kind = Literal["ratio", "difference"]


@dataclass(frozen=True)
class Comparison:
    """One configuration against its baseline for one metric.

    ``estimate``, ``ci_low``, ``ci_high`` and ``mde`` are fractions for a ratio metric
    (0.05 = 5 % more than the baseline) and values in the metric's unit for a difference metric.
    ``None`` where they could not be computed; ``reason`` then says why.
    """

    kind: Kind
    design: Literal["paired", "unpaired", "none"]
    n_config: int
    n_baseline: int
    n_pairs: int
    config_mean: float | None
    baseline_mean: float | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    mde: float | None
    reason: str | None = None

    @property
    def ci_excludes_zero(self) -> bool:
        """Whether the confidence interval lies wholly above or wholly below zero."""
        if self.ci_low is None or self.ci_high is None:
            return False
        return self.ci_low > 0 or self.ci_high < 0


def _statistic(kind: Kind):
    def ratio(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(x, axis=axis) / np.mean(y, axis=axis) - 1.0

    def difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    return ratio if kind == "ratio" else difference


def expanded_level(n: int, confidence: float = CONFIDENCE) -> float:
    """The nominal level at which a bootstrap interval of ``n`` observations covers ``confidence``.

    Bootstrap intervals are too narrow for small samples: they use the plug-in spread (divisor
    n) and normal quantiles where a t interval has n - 1 and Student quantiles; with 10 blocks a
    nominal 95 % BCa interval covers about 90 %. Hesterberg's expanded interval (Hesterberg 2015,
    "What teachers should know about the bootstrap", The American Statistician 69(4)) widens the
    nominal level so that its normal quantile equals ``sqrt(n / (n - 1)) * t_{n-1}``.
    """
    tail = (1 - confidence) / 2
    z = math.sqrt(n / (n - 1)) * stats.t.ppf(1 - tail, n - 1)
    return float(1 - 2 * stats.norm.sf(z))


def _bootstrap_ci(
    x: np.ndarray, y: np.ndarray, kind: Kind, paired: bool, seed: int, n_resamples: int
) -> tuple[float | None, float | None, str | None]:
    """BCa interval of the statistic, or ``(None, None, reason)`` when it is undefined."""
    statistic = _statistic(kind)
    if paired:
        contributions = x - y if kind == "difference" else np.stack([x, y])
        constant = bool(np.ptp(contributions, axis=-1).max() == 0)
    else:
        constant = bool(np.ptp(x) == 0 and np.ptp(y) == 0)
    if constant:
        # Every resample gives the same value: the interval is that value (BCa divides by 0).
        value = float(statistic(x, y))
        return value, value, None
    return bootstrap_interval((x, y), statistic, paired, seed, n_resamples)


def bootstrap_interval(
    data: tuple[np.ndarray, ...], statistic: Any, paired: bool, seed: int, n_resamples: int
) -> tuple[float | None, float | None, str | None]:
    """BCa interval of a vectorised ``statistic`` of ``data`` (``paired``: rows resampled
    together), at the level :func:`expanded_level` gives for the smallest sample; ``(None, None,
    reason)`` when undefined. Callers handle constant data first (BCa divides by 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples: reported as undefined below
        result = stats.bootstrap(
            data,
            statistic,
            paired=paired,
            vectorized=True,
            n_resamples=n_resamples,
            confidence_level=expanded_level(min(len(d) for d in data)),
            method="BCa",
            rng=np.random.default_rng(seed),
        )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        if np.ptp(result.bootstrap_distribution) == 0:
            value = float(statistic(*data))  # e.g. every config value a fixed multiple of its pair
            return value, value, None
        return None, None, "bootstrap interval undefined (too little variation between blocks)"
    return low, high, None


def _p_value(x: np.ndarray, y: np.ndarray, paired: bool) -> float:
    if paired:
        d = x - y
        if not np.any(d):
            return 1.0
        return float(stats.wilcoxon(d).pvalue)
    if np.ptp(np.concatenate([x, y])) == 0:
        return 1.0
    return float(stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)


def _mde(x: np.ndarray, y: np.ndarray, kind: Kind, paired: bool) -> float:
    if paired:
        n = len(x)
        se = float(np.std(x - y, ddof=1)) / math.sqrt(n)
        df = n - 1
    else:
        se = math.sqrt(np.var(x, ddof=1) / len(x) + np.var(y, ddof=1) / len(y))
        df = len(x) + len(y) - 2
    effect = (stats.t.ppf(1 - ALPHA / 2, df) + stats.t.ppf(POWER, df)) * se
    return float(effect / np.mean(y)) if kind == "ratio" else float(effect)


def compare(
    config: dict[int, float],
    baseline: dict[int, float],
    kind: Kind,
    seed: int,
    n_resamples: int = 9999,
    paired: bool = True,
) -> Comparison:
    """Compare a configuration's per-block values with the baseline's (block -> value).

    ``seed`` fixes the bootstrap's resampling, so the same input gives the same interval.
    ``paired=False`` never pairs values by key: for samples from separate sessions, whose keys
    (round numbers) say nothing about shared conditions.
    """
    blocks = sorted(set(config) & set(baseline)) if paired else []
    n_config, n_baseline = len(config), len(baseline)
    if len(blocks) >= MIN_BLOCKS:
        x = np.array([config[b] for b in blocks], dtype=float)
        y = np.array([baseline[b] for b in blocks], dtype=float)
        design: Literal["paired", "unpaired", "none"] = "paired"
    elif min(n_config, n_baseline) >= MIN_BLOCKS:
        x = np.array([config[b] for b in sorted(config)], dtype=float)
        y = np.array([baseline[b] for b in sorted(baseline)], dtype=float)
        design = "unpaired"
    else:
        return Comparison(
            kind=kind,
            design="none",
            n_config=n_config,
            n_baseline=n_baseline,
            n_pairs=len(blocks),
            config_mean=float(np.mean(list(config.values()))) if config else None,
            baseline_mean=float(np.mean(list(baseline.values()))) if baseline else None,
            estimate=None,
            ci_low=None,
            ci_high=None,
            p_value=None,
            mde=None,
            reason=(
                f"too few blocks for a CI ({len(blocks)} paired; {MIN_BLOCKS} needed)"
                if paired
                else f"too few values for a CI ({min(n_config, n_baseline)}; {MIN_BLOCKS} needed)"
            ),
        )
    by_pair = design == "paired"
    config_mean, baseline_mean = float(np.mean(x)), float(np.mean(y))
    common = dict(
        kind=kind,
        design=design,
        n_config=n_config,
        n_baseline=n_baseline,
        n_pairs=len(blocks),
        config_mean=config_mean,
        baseline_mean=baseline_mean,
    )
    if kind == "ratio" and baseline_mean <= 0:
        return Comparison(
            **common,
            estimate=None,
            ci_low=None,
            ci_high=None,
            p_value=None,
            mde=None,
            reason="the baseline's mean is not positive: no ratio",
        )
    estimate = float(_statistic(kind)(x, y))
    low, high, reason = _bootstrap_ci(x, y, kind, by_pair, seed, n_resamples)
    return Comparison(
        **common,
        estimate=estimate,
        ci_low=low,
        ci_high=high,
        p_value=_p_value(x, y, by_pair),
        mde=_mde(x, y, kind, by_pair),
        reason=reason,
    )


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in the input's order (``None`` stays ``None``).

    Sorted ascending, the i-th smallest of m p-values becomes ``min(1, max_{j<=i} (m - j) p_j)``
    (j counted from 0); a hypothesis is rejected at level alpha when its adjusted value < alpha.
    """
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


def wilcoxon_p_floor(n_pairs: int) -> float:
    """The smallest two-sided p-value the exact Wilcoxon signed-rank test can give n pairs."""
    return min(1.0, 2.0 / 2**n_pairs)


def mannwhitney_p_floor(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value the exact Mann-Whitney U test can give ``n_a`` against
    ``n_b`` values: both tails of the most extreme ordering, ``2 / C(n_a + n_b, n_a)``."""
    log_ways = math.lgamma(n_a + n_b + 1) - math.lgamma(n_a + 1) - math.lgamma(n_b + 1)
    return min(1.0, 2.0 * math.exp(-log_ways))  # via logs: C(n_a + n_b, n_a) overflows floats


def mad_outliers(values: dict[int, float]) -> list[int]:
    """Keys whose value's modified z-score ``0.6745 |x - median| / MAD`` exceeds 3.5.

    Nothing is flagged when the median absolute deviation is 0 (no scale to judge by) or with
    fewer than 3 values.
    """
    if len(values) < 3:
        return []
    data = np.array(list(values.values()), dtype=float)
    median = np.median(data)
    mad = np.median(np.abs(data - median))
    if mad == 0:
        return []
    return sorted(k for k, v in values.items() if 0.6745 * abs(v - median) / mad > MAD_THRESHOLD)
