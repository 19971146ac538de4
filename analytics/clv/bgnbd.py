"""The BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005, "Counting Your Customers the
Easy Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2)).

While alive, a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha) across
customers; after each purchase they drop out with probability p ~ Beta(a, b). A customer is
summarised by x (repeat purchases), t_x (time of the last purchase since the first) and T (time
since the first purchase), all in one time unit. Everything here is vectorised over customers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1


@dataclass(frozen=True)
class BGNBDParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class BGNBDFit:
    params: BGNBDParams
    log_likelihood: float
    customers: int
    converged: bool


def _as_arrays(x, t_x, T):
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    T = np.asarray(T, dtype=float)
    return np.broadcast_arrays(x, t_x, T)


def log_likelihood(params: BGNBDParams, x, t_x, T) -> np.ndarray:
    """Each customer's log-likelihood (FHL 2005, eq. 6), computed in logs throughout.

    L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
        + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))
    The two-term sum is combined with log-sum-exp (np.logaddexp).
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = _as_arrays(x, t_x, T)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    stays = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    # For x = 0 the second term is absent; feed a harmless argument and mask it out.
    x_safe = np.where(repeat, x, 1.0)
    drops = betaln(a + 1.0, b + x_safe - 1.0) - (r + x) * np.log(alpha + t_x)
    return common + np.where(repeat, np.logaddexp(stays, drops), stays)


def _negative_mean_ll_and_gradient(log_params, x, t_x, T, weights, x_values, x_index):
    """Mean negative log-likelihood and its gradient in the log-parameters (for L-BFGS-B).

    With ll = common + logaddexp(A, B), the two terms' shares wA, wB (a softmax; wB = 0 when
    x = 0) weight the derivatives of A and B; d betaln(u, w)/du = digamma(u) - digamma(u + w).
    Every special function depends on x alone, so it is evaluated once per distinct x
    (``x_values``) and spread to the customers through ``x_index``: per customer there are
    only two logarithms and a log-sum-exp.
    """
    r, alpha, a, b = np.exp(log_params)
    xv = x_values
    repeat_v = xv > 0
    xv_safe = np.where(repeat_v, xv, 1.0)
    # Beta functions written with gammaln: B(a, b+x) = G(a) G(b+x) / G(a+b+x), etc.
    ln_abx = gammaln(a + b + xv)
    common_v = gammaln(r + xv) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    stays_v = gammaln(a) + gammaln(b + xv) - ln_abx
    # x = 0 has no "dropped after the last purchase" term: -inf makes its share exactly 0.
    drops_v = np.where(repeat_v, gammaln(a + 1.0) + gammaln(b + xv_safe - 1.0) - ln_abx, -np.inf)
    psi_abx = digamma(a + b + xv)
    d_r_v = digamma(r + xv) - digamma(r) + np.log(alpha)
    d_a_common = -(digamma(a) - digamma(a + b))
    d_b_common = -(digamma(b) - digamma(a + b))
    d_a_stays_v = digamma(a) - psi_abx
    d_a_drops_v = digamma(a + 1.0) - psi_abx
    d_b_stays_v = digamma(b + xv) - psi_abx
    d_b_drops_v = np.where(repeat_v, digamma(b + xv_safe - 1.0) - psi_abx, 0.0)

    i = x_index
    log_alpha_T = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + t_x)
    stays = stays_v[i] - (r + x) * log_alpha_T
    drops = drops_v[i] - (r + x) * log_alpha_tx
    total = np.logaddexp(stays, drops)
    ll = common_v[i] + total
    w_stays = np.exp(stays - total)
    w_drops = 1.0 - w_stays
    d_r = d_r_v[i] - w_stays * log_alpha_T - w_drops * log_alpha_tx
    d_alpha = r / alpha - (r + x) * (w_stays / (alpha + T) + w_drops / (alpha + t_x))
    d_a = d_a_common + w_stays * d_a_stays_v[i] + w_drops * d_a_drops_v[i]
    d_b = d_b_common + w_stays * d_b_stays_v[i] + w_drops * d_b_drops_v[i]

    total_weight = weights.sum()
    value = -np.dot(weights, ll) / total_weight
    gradient = (
        -np.array(
            [
                r * np.dot(weights, d_r),
                alpha * np.dot(weights, d_alpha),
                a * np.dot(weights, d_a),
                b * np.dot(weights, d_b),
            ]
        )
        / total_weight
    )
    if not (np.isfinite(value) and np.all(np.isfinite(gradient))):
        return np.inf, np.zeros(4)
    return value, gradient


def _compress(x, t_x, T):
    """Customers with identical (x, t_x, T) contribute identically: fit on unique rows + counts."""
    stacked = np.column_stack([x, t_x, T])
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return unique[:, 0], unique[:, 1], unique[:, 2], counts.astype(float)


MULTISTART_SAMPLE = 20_000


def _with_x_index(x, t_x, T, weights):
    x_values, x_index = np.unique(x, return_inverse=True)
    return (x, t_x, T, weights, x_values, x_index.ravel())


def _minimize(start, data):
    return minimize(
        _negative_mean_ll_and_gradient,
        start,
        args=data,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-15.0, 15.0)] * 4,
        options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 2000},
    )


def fit(x, t_x, T) -> BGNBDFit:
    """Maximum-likelihood estimates of (r, alpha, a, b).

    Optimised over log-parameters (so all four stay positive) by L-BFGS-B with the analytic
    gradient, from a few starting points; the best optimum wins (with more than
    MULTISTART_SAMPLE distinct customers the starts are compared on a fixed random subsample and
    only the winner is refined on everyone). Customers sharing the same (x, t_x, T) are
    evaluated once, weighted by their number.
    """
    x, t_x, T = _as_arrays(x, t_x, T)
    x, t_x, T = (np.ravel(v) for v in (x, t_x, T))
    if x.size == 0:
        raise ValueError("no customers to fit")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T + 1e-9):
        raise ValueError("need x >= 0 and 0 <= t_x <= T for every customer")
    if not np.any(x > 0):
        raise ValueError("no customer made a repeat purchase; the BG/NBD model cannot be fitted")
    ux, ut, uT, weights = _compress(x, t_x, T)
    data = _with_x_index(ux, ut, uT, weights)

    # Starting points: a Poisson rate from the data for r/alpha, and a spread of dropout shapes.
    mean_T = max(float(np.mean(T)), 1e-6)
    rate = max(float(np.sum(x) / np.sum(np.maximum(T, 1e-6))), 1e-6)
    starts = [(1.0, 1.0 / rate, 1.0, 1.0), (0.5, 0.5 / rate, 0.5, 2.0), (1.0, mean_T, 1.0, 3.0)]
    # On big data the starts race on a fixed random subsample; the winner is refined on all.
    explore = data
    if ux.size > MULTISTART_SAMPLE:
        pick = np.random.default_rng(0).choice(ux.size, MULTISTART_SAMPLE, replace=False)
        explore = _with_x_index(ux[pick], ut[pick], uT[pick], weights[pick])
    best = min((_minimize(np.log(start), explore) for start in starts), key=lambda res: res.fun)
    if explore is not data:
        best = _minimize(best.x, data)
    r, alpha, a, b = (float(v) for v in np.exp(best.x))
    params = BGNBDParams(r=r, alpha=alpha, a=a, b=b)
    return BGNBDFit(
        params=params,
        log_likelihood=float(np.sum(log_likelihood(params, x, t_x, T))),
        customers=int(x.size),
        converged=bool(best.success or np.max(np.abs(best.jac)) < 1e-5),
    )


def probability_alive(params: BGNBDParams, x, t_x, T) -> np.ndarray:
    """P(alive | x, t_x, T) (FHL 2005, eq. 11); exactly 1 for a customer with no repeat purchase.

    P = 1 / (1 + [x > 0] a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x)),
    evaluated as a logistic of the log-odds so large x or T cannot overflow.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = _as_arrays(x, t_x, T)
    repeat = x > 0
    x_safe = np.where(repeat, x, 1.0)
    log_odds_dead = (
        np.log(a) - np.log(b + x_safe - 1.0) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    )
    return np.where(repeat, expit(-log_odds_dead), 1.0)


def expected_purchases(params: BGNBDParams, t, x, t_x, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t periods (FHL 2005, eq. 10).

    E = (a + b + x - 1) / (a - 1)
        * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
        / [1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)]

    The power times 2F1 is rewritten with Euler's transformation,
    (1-z)^(r+x) 2F1(r+x, b+x; c; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; c; z) with c = a+b+x-1,
    whose series converges fast for any x (the original one diverges towards z = 1 for large x).
    The denominator is 1 / P(alive).
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = _as_arrays(x, t_x, T)
    t = np.asarray(t, dtype=float)
    if abs(a - 1.0) < 1e-9:
        a = 1.0 + 1e-9  # the formula's removable singularity at a = 1
    z = t / (alpha + T + t)
    c = a + b + x - 1.0
    with np.errstate(all="ignore"):
        tail = (1.0 - z) ** (a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
        numerator = (c / (a - 1.0)) * (1.0 - tail)
    # A fit at the no-dropout limit (a, b → 0 and r, alpha → ∞: buyers who never leave, e.g.
    # steady synthetic data) overflows 2F1. There the expectation tends to the gamma-Poisson
    # one, t (r + x) / (alpha + T); use it where the closed form is not finite.
    poisson_limit = t * (r + x) / (alpha + T)
    numerator = np.where(np.isfinite(numerator), numerator, poisson_limit)
    return numerator * probability_alive(params, x, t_x, T)


def expected_purchases_new_customer(params: BGNBDParams, t) -> np.ndarray:
    """E[X(t)]: expected purchases in (0, t] by a customer just acquired (FHL 2005, eq. 9)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    return (
        (a + b - 1.0)
        / (a - 1.0)
        * (1.0 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1.0, z))
    )
