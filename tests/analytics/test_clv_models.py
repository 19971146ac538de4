"""BG/NBD, Gamma-Gamma and CLV on cases small enough to work by hand."""

import math
import time

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.special import hyp2f1

from analytics.clv import bgnbd, gamma_gamma
from analytics.clv.value import forecast, monthly_discount_rate

SMALL = bgnbd.BGNBDParams(r=1.0, alpha=2.0, a=1.0, b=2.0)
CDNOW = bgnbd.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_log_likelihood_of_one_customer_by_hand():
    # r=1, alpha=2, a=1, b=2; x=1, t_x=1, T=2:
    #   B(1,3)/B(1,2) * G(2) 2^1 / (G(1) 4^2)  = (2/3)(1/8) = 1/12   (still alive at T)
    # + B(2,2)/B(1,2) * G(2) 2^1 / (G(1) 3^2)  = (1/3)(2/9) = 2/27   (dropped after t_x)
    assert bgnbd.log_likelihood(SMALL, 1, 1.0, 2.0) == pytest.approx(math.log(1 / 12 + 2 / 27))
    # No repeat purchase: P(no purchase in T) = (alpha / (alpha + T))^r = 1/2.
    assert bgnbd.log_likelihood(SMALL, 0, 0.0, 2.0) == pytest.approx(math.log(0.5))


def test_log_likelihood_stays_finite_for_heavy_buyers():
    ll = bgnbd.log_likelihood(CDNOW, np.array([0, 50, 500, 5000]), 30.0, 39.0)
    assert np.all(np.isfinite(ll))


def test_probability_alive_by_hand_and_one_without_repeat_purchases():
    # 1 / (1 + a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)) = 1 / (1 + (1/2)(4/3)^2) = 9/17
    assert bgnbd.probability_alive(SMALL, 1, 1.0, 2.0) == pytest.approx(9 / 17)
    p_alive = bgnbd.probability_alive(CDNOW, np.zeros(4), np.zeros(4), np.array([0, 1, 39, 400]))
    np.testing.assert_array_equal(p_alive, 1.0)
    # A customer who bought recently is likelier alive than one who bought long ago.
    assert bgnbd.probability_alive(CDNOW, 3, 38.0, 39.0) > bgnbd.probability_alive(
        CDNOW, 3, 5.0, 39.0
    )


def test_expected_purchases_grow_with_the_horizon():
    horizons = np.linspace(0, 520, 200)
    for x, t_x, T in [(0, 0.0, 39.0), (2, 30.43, 38.86), (15, 38.0, 39.0), (300, 38.0, 39.0)]:
        expected = bgnbd.expected_purchases(CDNOW, horizons, x, t_x, T)
        assert expected[0] == pytest.approx(0.0, abs=1e-12)
        assert np.all(np.diff(expected) > 0)
        assert np.all(np.isfinite(expected))


def test_expected_purchases_euler_form_equals_the_papers_formula():
    # The paper's own expression, evaluated directly where its 2F1 series still behaves.
    r, alpha, a, b = CDNOW.r, CDNOW.alpha, CDNOW.a, CDNOW.b
    for x, t_x, T, t in [(0, 0.0, 39.0, 39.0), (2, 30.43, 38.86, 39.0), (7, 20.0, 30.0, 52.0)]:
        z = t / (alpha + T + t)
        numerator = (
            (a + b + x - 1)
            / (a - 1)
            * (
                1
                - ((alpha + T) / (alpha + T + t)) ** (r + x)
                * hyp2f1(r + x, b + x, a + b + x - 1, z)
            )
        )
        denominator = 1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
        assert bgnbd.expected_purchases(CDNOW, t, x, t_x, T) == pytest.approx(
            numerator / denominator, rel=1e-10
        )


def test_new_customer_expectation_is_the_mean_of_the_conditional_one_at_age_zero():
    # A customer acquired just now (x = 0, T = 0) is the population's E[X(t)].
    for t in (1.0, 39.0, 78.0):
        assert bgnbd.expected_purchases(CDNOW, t, 0, 0.0, 0.0) == pytest.approx(
            bgnbd.expected_purchases_new_customer(CDNOW, t)
        )


def test_analytic_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 80).astype(float)
    T = rng.uniform(5, 40, 80)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, 80), 0.0)
    data = bgnbd._with_x_index(x, t_x, T, np.ones(80))
    for point in (np.log([0.24, 4.4, 0.79, 2.4]), np.log([2.0, 0.5, 3.0, 0.7])):
        _, gradient = bgnbd._negative_mean_ll_and_gradient(point, *data)
        numeric = approx_fprime(
            point, lambda p: bgnbd._negative_mean_ll_and_gradient(p, *data)[0], 1e-7
        )
        np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-6)


def simulate_bgnbd(n, params, rng):
    """Customers drawn from the BG/NBD story, vectorised: lambda ~ Gamma(r, 1/alpha), p ~
    Beta(a, b); K ~ Geometric(p) repeat purchases until dropout; x = min(K, N(T)) with N(T)
    Poisson; t_x is the x-th of N uniform event times, i.e. T * Beta(x, N - x + 1)."""
    T = rng.uniform(26, 39, n)
    lam = rng.gamma(params.r, 1 / params.alpha, n)
    p = rng.beta(params.a, params.b, n)
    N = rng.poisson(lam * T)
    x = np.minimum(N, rng.geometric(p))
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(N - x + 1, 1)), 0.0)
    return x, t_x, T


def test_fit_recovers_simulated_parameters_of_100000_customers_in_seconds():
    rng = np.random.default_rng(7)
    x, t_x, T = simulate_bgnbd(100_000, CDNOW, rng)
    started = time.perf_counter()
    fit = bgnbd.fit(x, t_x, T)
    elapsed = time.perf_counter() - started
    assert fit.converged
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fit.params, name) == pytest.approx(getattr(CDNOW, name), rel=0.1), name
    assert elapsed < 60  # typically 1-3 s; generous for a loaded CI machine

    nu = rng.gamma(3.74, 1 / 15.44, x.size)
    repeat = np.maximum(x, 1)
    zbar = np.where(x > 0, rng.gamma(6.25 * repeat, 1 / (nu * repeat)), 0.0)
    spend = gamma_gamma.fit(x, zbar)
    assert spend.params.p == pytest.approx(6.25, rel=0.1)
    assert spend.params.q == pytest.approx(3.74, rel=0.1)
    assert spend.params.v == pytest.approx(15.44, rel=0.1)


def test_fit_refuses_data_without_repeat_purchases():
    with pytest.raises(ValueError, match="repeat purchase"):
        bgnbd.fit([0, 0], [0, 0], [5, 6])
    with pytest.raises(ValueError, match="t_x <= T"):
        bgnbd.fit([1], [7], [5])
    with pytest.raises(ValueError, match="two customers"):
        gamma_gamma.fit([0, 1], [0, 10])


def test_gamma_gamma_density_and_expected_spend_by_hand():
    params = gamma_gamma.GammaGammaParams(p=1.0, q=2.0, v=3.0)
    # x = 1: f(z) = G(3)/(G(1) G(2)) 3^2 z^0 / (3 + z)^3, at z = 1: 2 * 9 / 64.
    assert gamma_gamma.log_likelihood(params, 1, 1.0) == pytest.approx(math.log(18 / 64))
    # E[Z | x=1, zbar=1] = p (v + x zbar) / (p x + q - 1) = 4 / 2; x = 0: p v / (q - 1) = 3.
    spend = gamma_gamma.conditional_expected_spend(params, np.array([1, 0]), np.array([1.0, 9.0]))
    np.testing.assert_allclose(spend, [2.0, 3.0])
    assert params.population_mean == 3.0


def test_clv_is_monthly_purchases_times_spend_discounted():
    spend_params = gamma_gamma.GammaGammaParams(p=6.25, q=3.74, v=15.44)
    x, t_x, T, zbar = np.array([2, 0]), np.array([30.43, 0.0]), np.array([38.86, 20.0]), [30, 0]
    result = forecast(CDNOW, spend_params, x=x, t_x=t_x, T=T, zbar=zbar, time_unit="weeks")
    month = 365.25 / 12 / 7
    cumulative = [bgnbd.expected_purchases(CDNOW, m * month, x, t_x, T) for m in range(13)]
    rate = monthly_discount_rate(0.10)
    assert (1 + rate) ** 12 == pytest.approx(1.10)
    spend = gamma_gamma.conditional_expected_spend(spend_params, x, zbar)
    by_hand = sum(
        (cumulative[m] - cumulative[m - 1]) * spend / (1 + rate) ** m for m in range(1, 13)
    )
    np.testing.assert_allclose(result.expected_value, by_hand)
    np.testing.assert_allclose(result.expected_purchases, cumulative[12])
    # Without discounting, CLV is simply 12 months' purchases times spend.
    undiscounted = forecast(
        CDNOW, spend_params, x=x, t_x=t_x, T=T, zbar=zbar, annual_discount_rate=0.0
    )
    np.testing.assert_allclose(undiscounted.expected_value, cumulative[12] * spend)
    assert np.all(result.expected_value < undiscounted.expected_value)


def test_clv_time_unit_only_changes_the_scale():
    spend_params = gamma_gamma.GammaGammaParams(p=6.25, q=3.74, v=15.44)
    in_days = bgnbd.BGNBDParams(r=CDNOW.r, alpha=CDNOW.alpha * 7, a=CDNOW.a, b=CDNOW.b)
    weeks = forecast(CDNOW, spend_params, x=[2], t_x=[30.0], T=[38.0], zbar=[30.0])
    days = forecast(
        in_days, spend_params, x=[2], t_x=[210.0], T=[266.0], zbar=[30.0], time_unit="days"
    )
    np.testing.assert_allclose(weeks.expected_value, days.expected_value)
