"""Small helpers for the dashboard tests: aware datetimes and reading a figure's rows."""

import datetime as dt

from django.utils import timezone


def at(day: str, hour: int = 12) -> dt.datetime:
    """An aware datetime at ``hour`` o'clock of the ISO ``day``."""
    return timezone.make_aware(dt.datetime.fromisoformat(day).replace(hour=hour))


def figure_rows(response, key: str) -> list[dict]:
    for item in response.context["rendered"]:
        if item.figure.key == key:
            return item.rows
    raise AssertionError(f"no figure {key!r} on the page")


def by(rows: list[dict], key: str) -> dict:
    return {row[key]: row for row in rows}


def count_queries(client, url, params=None) -> int:
    """Queries one GET makes (after a warm-up GET), asserting it answers 200."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url, params or {})
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params or {}).status_code == 200
    return len(captured)


def segment_of(owner, target: str, *conditions, shared: bool = True):
    """A saved segment of ``target`` ("account", "contact", "lead") whose records meet all of
    ``conditions`` ((criterion, operator, value) triples)."""
    from tests.factories.segments import SegmentFactory, condition, group

    return SegmentFactory(
        owner=owner,
        target=target,
        shared=shared,
        definition=group("and", *(condition(*c) for c in conditions)),
    )


def every_account(owner):
    """An account segment holding every account (at least no contacts)."""
    return segment_of(owner, "account", ("contacts", "gte", 0))


def rows_of_every_figure(response) -> dict:
    return {item.figure.key: item.rows for item in response.context["rendered"]}
