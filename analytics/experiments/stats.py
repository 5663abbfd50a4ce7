"""The statistics of an experiment's results (pure: figures in, verdicts out; SciPy's distributions).

- Conversions: the two-proportion z-test (pooled standard error for the p-value, unpooled for the
  interval); means: Welch's t-test (Welch-Satterthwaite degrees of freedom).
- Relative lift: ratio of the variant's to the control's figure minus 1, its interval by the delta
  method (first-order variance of a ratio of independent estimates).
- Bayesian: beta-binomial posteriors with uniform priors for conversions (probability to beat control
  and expected loss as one-dimensional integrals over the variant's posterior, by Gauss-Legendre
  quadrature on SciPy's beta functions: deterministic, exact to ~1e-10), a normal approximation for
  means; the expected loss of shipping the variant is in the metric's units.
- Sequential (an option per experiment): the mixture sequential probability ratio test on the normal
  approximation of the difference (always-valid p-value and confidence sequence, Johari et al. 2017),
  with mixing variance ``tau2``: looking every day does not inflate false positives.
- Sample ratio mismatch: chi-square goodness of fit of the exposures against the weights.
- Multiple comparisons: Holm's step-down adjustment.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

# SciPy's distribution functions as ufuncs (scipy.special: the same routines scipy.stats calls, without
# its per-call argument handling, which cost about 0.1-2 ms a call and dominated the results query).
# norm.sf(x) = ndtr(-x), norm.ppf(q) = ndtri(q), t.sf(x, df) = stdtr(df, -x), t.ppf(q, df) = stdtrit(df, q),
# chi2.sf(x, df) = chdtrc(df, x), norm.pdf(x) = exp(-x^2/2)/sqrt(2 pi).

ALPHA = 0.05
SRM_ALPHA = 0.001
# Gauss-Legendre nodes per piece of the integration range (the pieces split at the control's posterior
# bulk, so a narrow control posterior inside a wide variant one is still resolved).
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(96)
_TAIL = 1e-15  # posterior mass left out at each end of a range


@dataclass(frozen=True)
class Sample:
    """One variant's figures for one metric: actors (exposed), their sum and sum of squares; for a
    conversion metric ``total`` is the converted actors."""

    n: int
    total: float
    total_sq: float

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Sample variance (n - 1 in the denominator)."""
        if self.n < 2:
            return 0.0
        return max(0.0, (self.total_sq - self.total * self.total / self.n) / (self.n - 1))


@dataclass(frozen=True)
class Comparison:
    difference: float  # variant - control
    difference_low: float
    difference_high: float
    relative: float | None  # variant / control - 1
    relative_low: float | None
    relative_high: float | None
    p_value: float
    method: str


def _relative(p1: float, v1: float, p0: float, v0: float, z: float) -> tuple[float | None, ...]:
    """Lift p1/p0 - 1 with its delta-method interval (v1, v0: variances of the two estimates)."""
    if p0 == 0:
        return None, None, None
    ratio = p1 / p0
    se = math.sqrt(v1 / p0**2 + p1**2 * v0 / p0**4)
    return ratio - 1, ratio - 1 - z * se, ratio - 1 + z * se


def z_test(control: Sample, variant: Sample, alpha: float = ALPHA) -> Comparison:
    """Two-proportion z-test; ``total`` is conversions."""
    n0, n1 = control.n, variant.n
    p0, p1 = control.total / n0, variant.total / n1
    pooled = (control.total + variant.total) / (n0 + n1)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
    p_value = 1.0 if se_pooled == 0 else float(2 * special.ndtr(-abs(p1 - p0) / se_pooled))
    v0, v1 = p0 * (1 - p0) / n0, p1 * (1 - p1) / n1
    z = float(special.ndtri(1 - alpha / 2))
    se = math.sqrt(v0 + v1)
    rel, rel_low, rel_high = _relative(p1, v1, p0, v0, z)
    return Comparison(
        p1 - p0, p1 - p0 - z * se, p1 - p0 + z * se, rel, rel_low, rel_high, p_value, "two-proportion z-test"
    )


def welch_test(control: Sample, variant: Sample, alpha: float = ALPHA) -> Comparison:
    """Welch's unequal-variances t-test on the means."""
    v0, v1 = control.variance / control.n, variant.variance / variant.n
    difference = variant.mean - control.mean
    se = math.sqrt(v0 + v1)
    if se == 0:
        p_value, df = (1.0 if difference == 0 else 0.0), float(control.n + variant.n - 2)
    else:
        df = (v0 + v1) ** 2 / (v0**2 / (control.n - 1) + v1**2 / (variant.n - 1))
        p_value = float(2 * special.stdtr(df, -abs(difference) / se))
    t = float(special.stdtrit(df, 1 - alpha / 2))
    z = float(special.ndtri(1 - alpha / 2))
    rel, rel_low, rel_high = _relative(variant.mean, v1, control.mean, v0, z)
    return Comparison(
        difference,
        difference - t * se,
        difference + t * se,
        rel,
        rel_low,
        rel_high,
        p_value,
        "Welch's t-test",
    )


def msprt(
    difference: float, variance: float, tau2: float, alpha: float = ALPHA
) -> tuple[float, float, float]:
    """Mixture SPRT on an estimate ``difference`` with ``variance`` (normal approximation), mixing
    N(0, tau2) over the true difference: (always-valid p-value, confidence-sequence low, high)."""
    if variance <= 0:
        return (1.0 if difference == 0 else 0.0), difference, difference
    log_lr = 0.5 * math.log(variance / (variance + tau2)) + tau2 * difference**2 / (
        2 * variance * (variance + tau2)
    )
    p_value = min(1.0, math.exp(-log_lr))
    half = math.sqrt(
        variance * (variance + tau2) / tau2 * (math.log((variance + tau2) / variance) - 2 * math.log(alpha))
    )
    return p_value, difference - half, difference + half


def sequential_test(
    control: Sample, variant: Sample, *, conversion: bool, alpha: float = ALPHA
) -> Comparison:
    """The always-valid version of the fixed-horizon test: same estimate, the mSPRT's p-value and
    interval; the mixing variance is (a tenth of the pooled per-actor standard deviation) squared."""
    fixed = z_test(control, variant, alpha) if conversion else welch_test(control, variant, alpha)
    if conversion:
        p0, p1 = control.mean, variant.mean
        v0, v1 = p0 * (1 - p0) / control.n, p1 * (1 - p1) / variant.n
        pooled = (control.total + variant.total) / (control.n + variant.n)
        spread = pooled * (1 - pooled)
    else:
        v0, v1 = control.variance / control.n, variant.variance / variant.n
        spread = (control.variance + variant.variance) / 2
    p_value, low, high = msprt(fixed.difference, v0 + v1, max(spread, 1e-12) * 0.01, alpha)
    return Comparison(
        fixed.difference,
        low,
        high,
        fixed.relative,
        fixed.relative_low,
        fixed.relative_high,
        p_value,
        "mixture SPRT (always valid)",
    )


@dataclass(frozen=True)
class Bayesian:
    probability_to_beat: float
    expected_loss: float  # of shipping the variant instead of the control, in the metric's units


def _beta_pdf(x: np.ndarray, a: float, b: float) -> np.ndarray:
    return np.asarray(np.exp(special.xlogy(a - 1, x) + special.xlog1py(b - 1, -x) - special.betaln(a, b)))


def _beta_race(control: Sample, variant: Sample) -> tuple[float, float, float]:
    """For the posteriors A (control) and B (variant) of the conversion rates, Beta(1 + conversions,
    1 + misses): P(B > A), E[max(A - B, 0)] and E[max(B - A, 0)], each an integral over B's density
    (E[max(A - b, 0)] = mean_A (1 - I_b(a_A + 1, b_A)) - b (1 - I_b(a_A, b_A)), I the regularized
    incomplete beta function)."""
    a0, b0 = 1 + control.total, 1 + control.n - control.total
    a1, b1 = 1 + variant.total, 1 + variant.n - variant.total
    edges = {float(special.betaincinv(a1, b1, _TAIL)), float(special.betaincinv(a1, b1, 1 - _TAIL))}
    low, high = min(edges), max(edges)
    for q in (_TAIL, 0.5, 1 - _TAIL):  # where the control's cdf climbs
        edge = float(special.betaincinv(a0, b0, q))
        if low < edge < high:
            edges.add(edge)
    cuts = sorted(edges)
    pieces = list(itertools.pairwise(cuts))
    x = np.concatenate([(hi - lo) / 2 * _NODES + (hi + lo) / 2 for lo, hi in pieces])
    w = np.concatenate([(hi - lo) / 2 * _WEIGHTS for lo, hi in pieces])
    density = w * _beta_pdf(x, a1, b1)
    below = special.betainc(a0, b0, x)  # P(A < x)
    below_first = special.betainc(a0 + 1, b0, x)  # P(A' < x), A' ~ Beta(a0 + 1, b0): for E[A; A < x]
    mean0 = a0 / (a0 + b0)
    beat = float(density @ below)
    control_ahead = float(density @ (mean0 * (1 - below_first) - x * (1 - below)))
    variant_ahead = float(density @ (x * below - mean0 * below_first))
    return beat, max(control_ahead, 0.0), max(variant_ahead, 0.0)


def bayesian(
    control: Sample, variant: Sample, *, conversion: bool, higher_is_better: bool = True
) -> Bayesian:
    sign = 1.0 if higher_is_better else -1.0
    if conversion:
        beat, control_ahead, variant_ahead = _beta_race(control, variant)
        if higher_is_better:
            return Bayesian(beat, control_ahead)
        return Bayesian(1 - beat, variant_ahead)
    mean = sign * (variant.mean - control.mean)
    sd = math.sqrt(control.variance / control.n + variant.variance / variant.n)
    if sd == 0:
        return Bayesian(1.0 if mean > 0 else 0.0 if mean < 0 else 0.5, max(-mean, 0.0))
    z = mean / sd
    loss = sd * math.exp(-z * z / 2) / math.sqrt(2 * math.pi) - mean * float(special.ndtr(-z))
    return Bayesian(float(special.ndtr(z)), loss)


def sample_ratio_p(exposures: Sequence[int], weights: Sequence[float]) -> float:
    """Chi-square goodness-of-fit p-value of the exposures against the weights."""
    total = sum(exposures)
    if total == 0:
        return 1.0
    expected = [total * w / sum(weights) for w in weights]
    statistic = sum((o - e) ** 2 / e for o, e in zip(exposures, expected, strict=True))
    return float(special.chdtrc(len(exposures) - 1, statistic))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Covariate:
    """CUPED's figures beside a variant's Sample: the sum of the actors' pre-period values, of their
    squares, and of the products of pre-period value and value."""

    total: float
    total_sq: float
    cross: float


def cuped(samples: Sequence[tuple[Sample, Covariate]]) -> tuple[list[Sample], float]:
    """CUPED (Deng et al. 2013) with theta the pooled within-variant slope of value on pre-period value
    (the ANCOVA / OLS slope of ``value ~ variant + pre``): each variant's values become
    ``Y - theta (X - mean X)`` (mean X over all actors). Returns the adjusted samples (same actors) and
    the variance reduction achieved, ``1 - Var(adjusted) / Var(Y)`` within variants (0 without a
    usable covariate)."""
    live = [(s, c) for s, c in samples if s.n]
    sxx = sum(c.total_sq - c.total * c.total / s.n for s, c in live)
    sxy = sum(c.cross - c.total * s.total / s.n for s, c in live)
    syy = sum(s.total_sq - s.total * s.total / s.n for s, _ in live)
    if sxx <= 1e-12 or syy <= 1e-12:
        return [s for s, _ in samples], 0.0
    theta = sxy / sxx
    actors = sum(s.n for s, _ in live)
    mean_x = sum(c.total for _, c in live) / actors
    adjusted = []
    for s, c in samples:
        if not s.n:
            adjusted.append(s)
            continue
        mean = s.mean - theta * (c.total / s.n - mean_x)
        ss_y = s.total_sq - s.total * s.total / s.n
        ss_x = c.total_sq - c.total * c.total / s.n
        ss_xy = c.cross - c.total * s.total / s.n
        squares = max(0.0, ss_y - 2 * theta * ss_xy + theta * theta * ss_x)
        adjusted.append(Sample(s.n, mean * s.n, squares + s.n * mean * mean))
    return adjusted, max(0.0, 1 - (syy - 2 * theta * sxy + theta * theta * sxx) / syy)
