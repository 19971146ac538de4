"""BG/NBD expected purchases at the no-dropout limit, where the closed form overflows."""

import numpy as np

from analytics.clv.bgnbd import BGNBDParams, expected_purchases, probability_alive

# A fit of steady synthetic buyers (the demo data): r, alpha huge, a, b tiny.
DEGENERATE = BGNBDParams(r=120012.15, alpha=3268676.06, a=3.1e-7, b=1.83e-6)


def test_expected_purchases_fall_back_to_the_gamma_poisson_limit():
    x, t_x, T = np.array([0.0, 2.0, 9.0]), np.array([0.0, 45.7, 63.1]), np.array([25.7, 85.0, 63.1])
    got = expected_purchases(DEGENERATE, 52, x, t_x, T)
    assert np.isfinite(got).all()
    # 52 weeks × (r + x) / (alpha + T) ≈ 52 × 120012 / 3268700 ≈ 1.909 purchases, times P(alive).
    limit = 52 * (DEGENERATE.r + x) / (DEGENERATE.alpha + T)
    assert np.allclose(got, limit * probability_alive(DEGENERATE, x, t_x, T))
    assert abs(got[0] - 1.909) < 0.01
