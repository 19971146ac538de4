"""Segment count latency on the seeded bench database.

``bench_segment_count(database_url)`` counts a few segments as the ``manager`` demo user would
see them (the builder's live count: one ``SELECT COUNT(*)`` over the compiled query), each a few
times, and prints each count with the median and worst time in ms:

- "VPs (title contains VP) in Germany with no activity in 30 days" over contacts;
- accounts with an open urgent ticket and a health score below 50;
- contacts whose account has an open deal in the Negotiation stage;
- contacts whose account pays at least 1,000 MRR and whose last NPS answer is a detractor's,
  or who opened a campaign email in the last 30 days (a nested OR across three stages).

It only reads; the database must already be migrated and seeded (``bench/run.py`` does that).

From the command line::

    python bench/segments.py [DATABASE_URL]      # default: the bench database of bench/run.py

From ``bench/run.py`` (after seeding, before or after the page timings)::

    from segments import bench_segment_count
    bench_segment_count(url)

Django must not be set up yet with another database, or already be set up on this one.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_bench"
RUNS = 5

VP_GERMANY_QUIET = {
    "op": "and",
    "children": [
        {"criterion": "title", "operator": "contains", "value": "VP"},
        {"criterion": "account_country", "operator": "in", "value": ["DE"]},
        {"criterion": "last_activity", "operator": "not_within", "value": 30},
    ],
}


URGENT_AND_UNHEALTHY = {
    "op": "and",
    "children": [
        {"criterion": "open_ticket_priority", "operator": "in", "value": ["urgent"]},
        {"criterion": "health", "operator": "lt", "value": 50},
    ],
}


def _negotiation_deals() -> dict:
    from sales.models import Stage

    stage = Stage.objects.filter(pipeline__name="New business", name="Negotiation").first()
    return {
        "op": "and",
        "children": [
            {
                "criterion": "open_deal_stage",
                "operator": "in",
                "value": [str(stage.pk if stage else 0)],
            }
        ],
    }


ACROSS_STAGES = {
    "op": "or",
    "children": [
        {
            "op": "and",
            "children": [
                {"criterion": "mrr", "operator": "gte", "value": 1000},
                {"criterion": "nps_category", "operator": "in", "value": ["detractor"]},
            ],
        },
        {"criterion": "campaign_opened", "operator": "within", "value": 30},
    ],
}


def _segments():
    """(label, target, definition) of each segment timed."""
    return [
        ("VPs in Germany with no activity in 30 days (contacts)", "contact", VP_GERMANY_QUIET),
        ("Open urgent ticket and health below 50 (accounts)", "account", URGENT_AND_UNHEALTHY),
        ("Account has an open deal in Negotiation (contacts)", "contact", _negotiation_deals()),
        (
            "MRR >= 1000 and NPS detractor, or opened a campaign email in 30 days (contacts)",
            "contact",
            ACROSS_STAGES,
        ),
    ]


def _django_setup(database_url: str):
    import django
    from django.conf import settings

    if settings.configured:
        return
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    django.setup()


def bench_segment_count(database_url: str = DEFAULT_DATABASE_URL, *, runs: int = RUNS) -> list:
    """Time each segment's count; prints and returns the figures (ms), one dict a segment."""
    _django_setup(database_url)
    from crm.models import User
    from crm.segments.selectors import segment_queryset

    user = (
        User.objects.filter(username="manager").first()
        or User.objects.filter(is_superuser=True).first()
    )
    if user is None:
        raise SystemExit("No 'manager' user: seed the database first (seed_demo).")
    results = []
    for label, target, definition in _segments():
        timings, count = [], None
        for _ in range(runs + 1):  # the first run warms the cache and is not counted
            started = time.perf_counter()
            queryset = segment_queryset(definition, user=user, target=target)
            count = queryset.order_by().count()
            timings.append((time.perf_counter() - started) * 1000)
        timings = timings[1:]
        result = {
            "segment": label,
            "count": count,
            "median_ms": round(statistics.median(timings), 1),
            "max_ms": round(max(timings), 1),
            "runs": runs,
        }
        print(
            f"| segment count: {label} | {count:,} members "
            f"| median {result['median_ms']} ms | max {result['max_ms']} ms | {runs} runs |"
        )
        results.append(result)
    return results


if __name__ == "__main__":
    bench_segment_count(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DATABASE_URL)
