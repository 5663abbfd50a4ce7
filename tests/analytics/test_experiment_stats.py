"""The experiment statistics against SciPy / statsmodels computed by another route, and A/A simulations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from analytics.experiments.stats import (
    Sample,
    bayesian,
    holm,
    msprt,
    sample_ratio_p,
    sequential_test,
    welch_test,
    z_test,
)


def conversions(converted: int, n: int) -> Sample:
    return Sample(n, converted, converted)


def values(xs: list[float]) -> Sample:
    return Sample(len(xs), sum(xs), sum(x * x for x in xs))


def test_z_test_agrees_with_statsmodels() -> None:
    control, variant = conversions(120, 1000), conversions(156, 1000)
    result = z_test(control, variant)
    _, p_value = proportions_ztest([156, 120], [1000, 1000])
    assert result.p_value == pytest.approx(p_value, rel=1e-9)
    low, high = confint_proportions_2indep(156, 1000, 120, 1000, method="wald", compare="diff")
    assert (result.difference_low, result.difference_high) == (pytest.approx(low), pytest.approx(high))
    assert result.difference == pytest.approx(0.036)
    assert result.relative == pytest.approx(0.3)


def test_welch_agrees_with_scipy() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(10, 3, 80).tolist(), rng.normal(11, 5, 120).tolist()
    result = welch_test(values(a), values(b))
    reference = stats.ttest_ind(b, a, equal_var=False)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-7)
    ci = reference.confidence_interval(0.95)
    assert (result.difference_low, result.difference_high) == (pytest.approx(ci.low), pytest.approx(ci.high))


def test_relative_lift_interval_is_the_delta_method() -> None:
    # Delta method for a ratio of independent means: var(r) = r^2 (v1/m1^2 + v0/m0^2).
    control, variant = conversions(200, 2000), conversions(250, 2000)
    result = z_test(control, variant)
    p0, p1 = 0.1, 0.125
    se = (p1 / p0) * math.sqrt(p1 * (1 - p1) / 2000 / p1**2 + p0 * (1 - p0) / 2000 / p0**2)
    assert result.relative_low == pytest.approx(0.25 - 1.959963984540054 * se)
    assert result.relative_high == pytest.approx(0.25 + 1.959963984540054 * se)


def test_sample_ratio_mismatch_is_scipys_chi_square() -> None:
    assert sample_ratio_p([5000, 5000], [1, 1]) == 1.0
    p_value = sample_ratio_p([5200, 4800], [50, 50])
    assert p_value == pytest.approx(stats.chi2.sf((200**2 / 5000) * 2, 1))
    assert p_value < 0.001


def test_holm_agrees_with_statsmodels() -> None:
    p_values = [0.01, 0.04, 0.03, 0.2, 0.005]
    assert holm(p_values) == pytest.approx(list(multipletests(p_values, method="holm")[1]))


def test_bayesian_probability_to_beat() -> None:
    # Normal approximation: P(B > A) = Phi(diff / se).
    a, b = values([1.0, 2.0, 3.0, 4.0] * 50), values([1.5, 2.5, 3.5, 4.5] * 50)
    result = bayesian(a, b, conversion=False)
    se = math.sqrt(a.variance / a.n + b.variance / b.n)
    assert result.probability_to_beat == pytest.approx(stats.norm.cdf(0.5 / se))


def _miller(k0: int, n0: int, k1: int, n1: int) -> float:
    """P(B > A) for Beta(1 + k, 1 + n - k) posteriors by Evan Miller's closed form ("Formulas for
    Bayesian A/B testing", 2015): a finite sum of beta functions, another route than the quadrature."""
    from scipy.special import betaln

    a_a, b_a, a_b, b_b = 1 + k0, 1 + n0 - k0, 1 + k1, 1 + n1 - k1
    i = np.arange(a_b)
    return float(np.exp(betaln(a_a + i, b_a + b_b) - np.log(b_b + i) - betaln(1 + i, b_b) - betaln(a_a, b_a)).sum())


@pytest.mark.parametrize(("k0", "n0", "k1", "n1"), [(100, 1000, 130, 1000), (0, 2, 1, 3), (3, 150, 9, 140),
                                                    (500, 4000, 470, 4100)])
def test_beta_binomial_probability_to_beat_is_the_closed_form(k0: int, n0: int, k1: int, n1: int) -> None:
    result = bayesian(conversions(k0, n0), conversions(k1, n1), conversion=True)
    assert result.probability_to_beat == pytest.approx(_miller(k0, n0, k1, n1), abs=1e-10)
    # Lower is better: the variant wins when its rate is below the control's.
    lower = bayesian(conversions(k0, n0), conversions(k1, n1), conversion=True, higher_is_better=False)
    assert lower.probability_to_beat == pytest.approx(1 - _miller(k0, n0, k1, n1), abs=1e-10)


def test_beta_binomial_probability_to_beat_exact_small_case() -> None:
    # A ~ Beta(1, 3), B ~ Beta(2, 3): P(B > A) = 1 - sum ... = 5/7 by hand (Miller's sum with two terms).
    assert bayesian(conversions(0, 2), conversions(1, 3), conversion=True).probability_to_beat == pytest.approx(
        5 / 7, abs=1e-12)


@pytest.mark.parametrize(("k0", "n0", "k1", "n1"), [(3, 150, 9, 140), (0, 2, 1, 3), (40, 300, 31, 280)])
def test_beta_binomial_expected_loss_is_the_double_integral(k0: int, n0: int, k1: int, n1: int) -> None:
    from scipy import integrate

    a, b = stats.beta(1 + k0, 1 + n0 - k0), stats.beta(1 + k1, 1 + n1 - k1)
    # E[max(A - B, 0)] (shipping B, higher is better) and E[max(B - A, 0)] (lower is better) by SciPy's
    # adaptive two-dimensional quadrature over the triangle where the loss is positive.
    a_ahead = integrate.dblquad(lambda y, x: (x - y) * a.pdf(x) * b.pdf(y), 0, 1, 0, lambda x: x,
                                epsabs=1e-12)[0]
    b_ahead = integrate.dblquad(lambda y, x: (y - x) * a.pdf(x) * b.pdf(y), 0, 1, lambda x: x, 1,
                                epsabs=1e-12)[0]
    higher = bayesian(conversions(k0, n0), conversions(k1, n1), conversion=True)
    lower = bayesian(conversions(k0, n0), conversions(k1, n1), conversion=True, higher_is_better=False)
    assert higher.expected_loss == pytest.approx(a_ahead, rel=1e-7, abs=1e-12)
    assert lower.expected_loss == pytest.approx(b_ahead, rel=1e-7, abs=1e-12)
    # The identity E[max(B - A, 0)] - E[max(A - B, 0)] = E[B] - E[A].
    assert lower.expected_loss - higher.expected_loss == pytest.approx(b.mean() - a.mean(), abs=1e-12)


def test_beta_binomial_is_deterministic_and_resolves_a_narrow_control() -> None:
    # A control posterior much narrower than the variant's (1M against 300 actors): the quadrature splits
    # at the control's bulk; the answer is SciPy's adaptive quadrature's (told where the control's cdf
    # climbs) and the same on every call. (Miller's sum is off by 1e-9 here: betaln of arguments near 1e6.)
    from scipy import integrate

    narrow, wide = conversions(50_000, 1_000_000), conversions(17, 300)
    first = bayesian(narrow, wide, conversion=True)
    assert first == bayesian(narrow, wide, conversion=True)
    a, b = stats.beta(50_001, 950_001), stats.beta(18, 284)
    exact = integrate.quad(lambda x: b.pdf(x) * a.cdf(x), 0.0, 0.3, points=[a.ppf(1e-9), a.mean(), a.ppf(1 - 1e-9)],
                           limit=1000, epsabs=1e-14, epsrel=1e-13)[0]
    assert first.probability_to_beat == pytest.approx(exact, abs=1e-11)


def test_confidence_sequence_contains_the_fixed_interval() -> None:
    p_value, low, high = msprt(0.02, 0.0001, 0.0001)
    assert low < 0.02 - 1.96 * 0.01 and high > 0.02 + 1.96 * 0.01
    assert 0 < p_value <= 1


def _mixture_ratio(estimate: float, variance: float, tau2: float, at: float = 0.0) -> float:
    """The mixture likelihood ratio of the normal estimate against the difference ``at``, mixing
    N(at, tau2) over the true difference, by numerical integration: another route than msprt's closed
    form (Johari, Koomen, Pekelis, Walsh, "Always valid inference", 2017)."""
    from scipy import integrate

    sd, spread = math.sqrt(variance), math.sqrt(tau2)
    reach = 12 * (spread + sd) + abs(estimate - at)
    return float(integrate.quad(
        lambda theta: math.exp(stats.norm.logpdf(estimate, theta, sd) - stats.norm.logpdf(estimate, at, sd))
        * stats.norm.pdf(theta, at, spread), at - reach, at + reach, points=[at, estimate], limit=500,
        epsabs=0, epsrel=1e-11)[0])


@pytest.mark.parametrize(("estimate", "variance", "tau2"), [(0.02, 1e-4, 1e-4), (0.03, 1e-4, 1e-6),
                                                            (-0.4, 0.04, 0.01), (0.001, 1e-4, 1e-4)])
def test_msprt_is_the_mixture_likelihood_ratio_and_its_confidence_sequence(
        estimate: float, variance: float, tau2: float) -> None:
    from scipy import optimize

    p_value, low, high = msprt(estimate, variance, tau2)
    assert p_value == pytest.approx(min(1.0, 1 / _mixture_ratio(estimate, variance, tau2)), rel=1e-8)
    # The confidence sequence: the differences the test does not reject at alpha 0.05 (ratio < 20),
    # its ends found by root finding on the integrated ratio.
    def excess(at: float) -> float:
        return math.log(_mixture_ratio(estimate, variance, tau2, at)) - math.log(20)

    step = math.sqrt(variance)
    while excess(estimate + step) < 0:  # widen until rejected: a bracket for each end
        step *= 1.5
    assert low == pytest.approx(optimize.brentq(excess, estimate - step, estimate, xtol=1e-14), rel=1e-7)
    assert high == pytest.approx(optimize.brentq(excess, estimate, estimate + step, xtol=1e-14), rel=1e-7)


def _aa(days: int, per_day: int, rate: float, seed: int, *, sequential: bool) -> float:
    """Share of 2,000 A/A experiments called significant (every day looked at when sequential)."""
    rng = np.random.default_rng(seed)
    experiments = 2000
    daily = rng.binomial(per_day, rate, size=(experiments, days, 2)).cumsum(axis=1)
    positives = 0
    for e in range(experiments):
        looks = range(days) if sequential else (days - 1,)
        for day in looks:
            n = per_day * (day + 1)
            control, variant = conversions(int(daily[e, day, 0]), n), conversions(int(daily[e, day, 1]), n)
            test = sequential_test(control, variant, conversion=True) if sequential else z_test(control, variant)
            if test.p_value < 0.05:
                positives += 1
                break
    return positives / experiments


def test_aa_false_positive_rate_fixed_horizon() -> None:
    assert 0.035 <= _aa(1, 1000, 0.1, seed=11, sequential=False) <= 0.065


def test_aa_false_positive_rate_with_daily_peeking_when_sequential() -> None:
    assert _aa(14, 100, 0.1, seed=12, sequential=True) < 0.05


def test_the_recommendation_rule() -> None:
    from datetime import UTC, datetime

    from analytics.experiments.definitions import Experiment, ExperimentStatus, Metric, MetricKind, Variant
    from analytics.experiments.results import (
        MetricResult,
        MetricRole,
        Recommendation,
        VariantMetric,
        _recommend,
    )
    from analytics.matchers import Matcher

    experiment = Experiment("e", None, "s", (Variant("a", 1, True), Variant("b", 1)), "conv", (), ("latency",),
                            ExperimentStatus.RUNNING, False, 100, 10, None, None, None, None)
    conv = Metric("conv", MetricKind.CONVERSION, Matcher("buy"))
    latency = Metric("latency", MetricKind.SUM, Matcher("load"), property="ms", higher_is_better=False)

    def entries(metric: Metric, control: Sample, variant: Sample, *, significant: bool) -> MetricResult:
        test = z_test(control, variant) if metric.kind is MetricKind.CONVERSION else welch_test(control, variant)
        role = MetricRole.PRIMARY if metric is conv else MetricRole.GUARDRAIL
        return MetricResult(metric, role, [
            VariantMetric("a", True, control, int(control.total), None, None, False, None),
            VariantMetric("b", False, variant, int(variant.total), test, test.p_value, significant, None)])

    now = datetime.now(UTC)
    winning = entries(conv, conversions(100, 1000), conversions(160, 1000), significant=True)
    fine = entries(latency, values([100.0, 120.0] * 500), values([100.0, 121.0] * 500), significant=False)
    worse = entries(latency, values([100.0, 120.0] * 500), values([150.0, 170.0] * 500), significant=True)
    exposures = {"a": 1000, "b": 1000}
    assert _recommend(experiment, exposures, 0.5, [winning, fine], now) == (Recommendation.SHIP_VARIANT, "b")
    assert _recommend(experiment, exposures, 0.5, [winning, worse], now) == (Recommendation.GUARDRAIL_FAILED, "b")
    assert _recommend(experiment, exposures, 0.0001, [winning, fine], now) == (Recommendation.INVESTIGATE_SRM, None)
    small = entries(conv, conversions(5, 50), conversions(20, 50), significant=True)
    assert _recommend(experiment, exposures, 0.5, [small], now) == (Recommendation.KEEP_RUNNING, None)
    flat = entries(conv, conversions(100, 1000), conversions(101, 1000), significant=False)
    assert _recommend(experiment, exposures, 0.5, [flat], now) == (Recommendation.KEEP_RUNNING, None)
    stopped = Experiment(**{**experiment.__dict__, "status": ExperimentStatus.STOPPED})
    assert _recommend(stopped, exposures, 0.5, [flat], now) == (Recommendation.NO_DIFFERENCE, None)


def test_cuped_agrees_with_ols_and_scipy_on_the_adjusted_values() -> None:
    """CUPED from the per-variant sums against another route on the per-actor values: the adjusted
    difference is the treatment coefficient of statsmodels' OLS ``value ~ variant + pre`` (ANCOVA), the
    Welch test on the adjusted figures is SciPy's on numpy-adjusted arrays, and the variance reduction is
    the within-variant squared correlation."""
    import statsmodels.api as sm

    from analytics.experiments.stats import Covariate, cuped

    rng = np.random.default_rng(7)
    pre = [rng.gamma(2.0, 10.0, n) for n in (400, 380)]
    post = [0.8 * x + rng.normal(0, 6, x.size) + lift for x, lift in zip(pre, (0.0, 2.0), strict=True)]
    figures = [(Sample(y.size, float(y.sum()), float((y * y).sum())),
                Covariate(float(x.sum()), float((x * x).sum()), float((x * y).sum()))) for x, y in zip(pre, post, strict=True)]
    (control, variant), reduction = cuped(figures)
    treated = np.r_[np.zeros(pre[0].size), np.ones(pre[1].size)]
    x, y = np.r_[pre[0], pre[1]], np.r_[post[0], post[1]]
    fit = sm.OLS(y, sm.add_constant(np.column_stack([treated, x]))).fit()
    assert variant.mean - control.mean == pytest.approx(fit.params[1], rel=1e-9)
    theta = fit.params[2]
    adjusted = [b - theta * (a - x.mean()) for a, b in zip(pre, post, strict=True)]
    assert control.mean == pytest.approx(adjusted[0].mean(), rel=1e-9)
    assert control.variance == pytest.approx(adjusted[0].var(ddof=1), rel=1e-9)
    assert welch_test(control, variant).p_value == pytest.approx(
        stats.ttest_ind(adjusted[1], adjusted[0], equal_var=False).pvalue, rel=1e-6)
    within = np.r_[pre[0] - pre[0].mean(), pre[1] - pre[1].mean()], np.r_[post[0] - post[0].mean(),
                                                                           post[1] - post[1].mean()]
    assert reduction == pytest.approx(np.corrcoef(*within)[0, 1] ** 2, rel=1e-9)
    assert reduction > 0.5
    # Without a covariate (no pre-period values) nothing changes.
    plain = [(s, Covariate(0.0, 0.0, 0.0)) for s, _ in figures]
    assert cuped(plain) == ([s for s, _ in figures], 0.0)
