"""Dashboard pages for the main bench (``bench/run.py`` adds ``PAGES`` to its own list).

Each is the page a manager opens first: the default range (the last 90 days), no filters.
``bench/run.py`` prints them again in a table of their own against ``GOAL_MS``: a dashboard
reads the rollups and snapshots, not the raw rows, so it answers in that time at any size.
"""

#: A dashboard's median latency should stay under this (issue #23), measured beside the pages.
GOAL_MS = 150.0

PAGES = [
    ("Dashboard: pipeline", "/analytics/pipeline/"),
    ("Dashboard: lead funnel", "/analytics/funnel/"),
    ("Dashboard: support", "/analytics/support/"),
    ("Dashboard: retention and churn", "/analytics/retention/"),
    ("Dashboard: customer lifetime value", "/analytics/clv/"),
]
