"""Dashboard pages for the main bench (``bench/run.py`` adds ``PAGES`` to its own list).

Each is the page a manager opens first: the default range (the last 90 days), no filters.
"""

PAGES = [
    ("Dashboard: pipeline", "/analytics/pipeline/"),
    ("Dashboard: lead funnel", "/analytics/funnel/"),
    ("Dashboard: support", "/analytics/support/"),
    ("Dashboard: retention and churn", "/analytics/retention/"),
    ("Dashboard: customer lifetime value", "/analytics/clv/"),
]
