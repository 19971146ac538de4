"""The Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV: Using
Iso-Value Curves for Customer Base Analysis", J. Marketing Research 42(4); Fader & Hardie 2013,
"The Gamma-Gamma Model of Monetary Value").

Each purchase of a customer is worth z ~ Gamma(p, nu); nu ~ Gamma(q, gamma) across customers
(``v`` below is the paper's gamma). It is fitted on repeat customers only (x >= 1), with
zbar = the mean value of their repeat purchases; spend is assumed independent of the purchase
process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    v: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def population_mean(self) -> float:
        """E[Z] = p v / (q - 1): expected spend per purchase of a customer we know nothing of."""
        return self.p * self.v / (self.q - 1.0) if self.q > 1.0 else float("inf")


@dataclass(frozen=True)
class GammaGammaFit:
    params: GammaGammaParams
    log_likelihood: float
    customers: int
    converged: bool


def log_likelihood(params: GammaGammaParams, x, zbar) -> np.ndarray:
    """Each repeat customer's log density of zbar given x purchases (Fader & Hardie 2013, eq. 4).

    f(zbar | x) = G(px+q) / (G(px) G(q)) * v^q x^(px) zbar^(px-1) / (v + x zbar)^(px+q)
    """
    p, q, v = params.p, params.q, params.v
    x = np.asarray(x, dtype=float)
    zbar = np.asarray(zbar, dtype=float)
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + px * np.log(x)
        + (px - 1.0) * np.log(zbar)
        - (px + q) * np.log(v + x * zbar)
    )


def _negative_mean_ll_and_gradient(log_params, x, log_zbar, zbar, x_values, x_index):
    """Mean negative log-likelihood and its gradient in (log p, log q, log v).

    The gamma functions depend on x alone: evaluated once per distinct x, spread by x_index.
    """
    p, q, v = np.exp(log_params)
    pxv = p * x_values
    ln_gamma_v = gammaln(pxv + q) - gammaln(pxv) - gammaln(q) + pxv * np.log(x_values)
    psi_pxq_v = digamma(pxv + q)
    d_p_v = x_values * (psi_pxq_v - digamma(pxv) + np.log(x_values))
    d_q_v = psi_pxq_v - digamma(q)

    i = x_index
    px = p * x
    v_xz = v + x * zbar
    log_v_xz = np.log(v_xz)
    ll = ln_gamma_v[i] + q * np.log(v) + (px - 1.0) * log_zbar - (px + q) * log_v_xz
    d_p = d_p_v[i] + x * (log_zbar - log_v_xz)
    d_q = d_q_v[i] + np.log(v) - log_v_xz
    d_v = q / v - (px + q) / v_xz
    value = -np.mean(ll)
    gradient = -np.array([p * np.mean(d_p), q * np.mean(d_q), v * np.mean(d_v)])
    if not (np.isfinite(value) and np.all(np.isfinite(gradient))):
        return np.inf, np.zeros(3)
    return value, gradient


def fit(x, zbar) -> GammaGammaFit:
    """Maximum-likelihood (p, q, v) from repeat customers' purchase counts and mean spend.

    Only customers with x >= 1 and zbar > 0 take part (a refund-only customer has no Gamma
    spend); the caller passes everyone and the filter happens here.
    """
    x = np.ravel(np.asarray(x, dtype=float))
    zbar = np.ravel(np.asarray(zbar, dtype=float))
    keep = (x >= 1) & (zbar > 0) & np.isfinite(zbar)
    x, zbar = x[keep], zbar[keep]
    if x.size < 2:
        raise ValueError(
            "the Gamma-Gamma spend model needs at least two customers with a repeat purchase"
        )
    # Rescale money so the optimiser sees values near 1; v scales with the money unit.
    scale = float(np.mean(zbar))
    z = zbar / scale
    x_values, x_index = np.unique(x, return_inverse=True)
    data = (x, np.log(z), z, x_values, x_index.ravel())

    best = None
    for start in ((1.0, 1.0, 1.0), (5.0, 3.0, 2.0), (2.0, 5.0, 4.0)):
        result = minimize(
            _negative_mean_ll_and_gradient,
            np.log(start),
            args=data,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-15.0, 15.0)] * 3,
            options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 2000},
        )
        if best is None or result.fun < best.fun:
            best = result
    p, q, v = (float(value) for value in np.exp(best.x))
    params = GammaGammaParams(p=p, q=q, v=v * scale)
    # The likelihood in the original money unit differs by the Jacobian of the rescaling.
    ll = float(np.sum(log_likelihood(params, x, zbar)))
    return GammaGammaFit(
        params=params,
        log_likelihood=ll,
        customers=int(x.size),
        converged=bool(best.success or np.max(np.abs(best.jac)) < 1e-5),
    )


def conditional_expected_spend(params: GammaGammaParams, x, zbar) -> np.ndarray:
    """E[Z | x, zbar] = (p (v + x zbar)) / (p x + q - 1) (Fader & Hardie 2013, eq. 5).

    A weighted mean of the population mean p v / (q - 1) and the customer's own zbar, the weight
    on zbar growing with x. A customer with no repeat purchase (x = 0) gets the population mean.
    """
    p, q, v = params.p, params.q, params.v
    x = np.asarray(x, dtype=float)
    zbar = np.where(x > 0, np.asarray(zbar, dtype=float), 0.0)
    return p * (v + x * zbar) / (p * x + q - 1.0)
