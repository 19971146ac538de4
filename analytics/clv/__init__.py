"""Customer lifetime value: BG/NBD purchases, Gamma-Gamma spend, discounted CLV, RFM segments.

Pure numpy/scipy (no Django) so it can be fitted on a CSV file or on the CRM's orders alike;
``analytics.clv.orders`` is the bridge to the database.
"""

from .bgnbd import BGNBDFit, BGNBDParams
from .gamma_gamma import GammaGammaFit, GammaGammaParams
from .rfm import RFMSegments, RFMSummary, segments, summarize
from .value import CLVResult, CustomerForecast, fit_transactions, forecast

__all__ = [
    "BGNBDFit",
    "BGNBDParams",
    "CLVResult",
    "CustomerForecast",
    "GammaGammaFit",
    "GammaGammaParams",
    "RFMSegments",
    "RFMSummary",
    "fit_transactions",
    "forecast",
    "segments",
    "summarize",
]
