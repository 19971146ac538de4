"""Business-time arithmetic for SLAs.

A ``Schedule`` is a calendar reduced to plain data: a time zone, the working intervals of each
weekday (local wall-clock minutes since midnight, e.g. ``(540, 1020)`` for 09:00–17:00) and a
set of holiday dates. Working intervals are read on each local date and turned into absolute
(UTC) instants, so daylight-saving changes move them the way a clock on the office wall does.

- ``add_business_minutes(schedule, start, minutes)``: the instant when ``minutes`` of working
  time have passed after ``start``.
- ``business_minutes_between(schedule, start, end)``: working minutes from ``start`` to ``end``.

Both are exact to the microsecond (they work in ``timedelta``); the ``*_time`` variants take and
return ``timedelta``. A schedule remembers the working intervals of each date it has read and a
running total of working time per date, so measuring many spans on one schedule (a page of
countdowns) costs a few dictionary reads per span, however long the span. Adding is the inverse of measuring: ``add(t, between(t, u))`` is the first
working instant at or after which ``between`` reaches that amount, i.e. ``u`` itself whenever
``u`` lies inside working hours.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

UTC = dt.UTC
ZERO = dt.timedelta(0)
#: A calendar with no working time within this many days is considered to have none at all.
MAX_SEARCH_DAYS = 3 * 366


class NoWorkingTime(ValueError):
    """The calendar has no working time at all (or none within ``MAX_SEARCH_DAYS``)."""


@dataclass(frozen=True)
class Schedule:
    tz: ZoneInfo
    #: weekday (0 = Monday) → sorted, non-overlapping (start_minute, end_minute) within 0..1440.
    hours: Mapping[int, tuple[tuple[int, int], ...]]
    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    #: Working intervals per date and running totals, filled as dates are read (see module doc).
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, tz: str | ZoneInfo, hours: Mapping[int, Iterable], holidays=()) -> Schedule:
        zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        cleaned: dict[int, tuple[tuple[int, int], ...]] = {}
        for weekday, intervals in hours.items():
            merged: list[list[int]] = []
            for start, end in sorted((int(s), int(e)) for s, e in intervals):
                if not 0 <= start < end <= 1440:
                    raise ValueError(f"bad working interval {start}–{end} on weekday {weekday}")
                if merged and start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            if merged:
                cleaned[int(weekday)] = tuple((s, e) for s, e in merged)
        return cls(tz=zone, hours=cleaned, holidays=frozenset(holidays))

    @property
    def has_working_time(self) -> bool:
        return bool(self.hours)

    def windows_on(self, day: dt.date) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
        """The working intervals of one local date, as aware UTC instants."""
        windows = self._memo.get(day)
        if windows is None:
            windows = ()
            if day not in self.holidays:
                windows = tuple(
                    (opens, closes)
                    for opens, closes in (
                        (_local_instant(self.tz, day, start), _local_instant(self.tz, day, end))
                        for start, end in self.hours.get(day.weekday(), ())
                    )
                    if closes > opens
                )
            self._memo[day] = windows
        return windows

    def worked_on_dates(self, first: dt.date, last: dt.date) -> dt.timedelta:
        """Working time of the whole dates ``first``..``last`` (zero when ``last < first``), from
        running totals: ``totals[i]`` is the working time of the dates from ``anchor`` up to
        ``anchor + i`` (excluded), extended to either side as needed."""
        if last < first:
            return ZERO
        anchor, totals = self._memo.get("totals", (first, [ZERO]))
        if first < anchor:
            prefix = [ZERO]
            for offset in range((anchor - first).days):
                prefix.append(prefix[-1] + self._day_total(first + dt.timedelta(days=offset)))
            totals = prefix[:-1] + [prefix[-1] + total for total in totals]
            anchor = first
        end = (last - anchor).days + 1
        while len(totals) <= end:
            totals.append(totals[-1] + self._day_total(anchor + dt.timedelta(len(totals) - 1)))
        self._memo["totals"] = (anchor, totals)
        return totals[end] - totals[(first - anchor).days]

    def _day_total(self, day: dt.date) -> dt.timedelta:
        return sum((closes - opens for opens, closes in self.windows_on(day)), ZERO)

    def windows_from(self, instant: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Working intervals that end after ``instant``, in order, for up to MAX_SEARCH_DAYS."""
        day = instant.astimezone(self.tz).date() - dt.timedelta(days=1)
        for offset in range(MAX_SEARCH_DAYS):
            for opens, closes in self.windows_on(day + dt.timedelta(days=offset)):
                if closes > instant:
                    yield opens, closes

    def is_working(self, instant: dt.datetime) -> bool:
        """Whether ``instant`` is inside (or at the edge of) a working interval."""
        day = instant.astimezone(self.tz).date()
        for offset in (-1, 0, 1):
            for opens, closes in self.windows_on(day + dt.timedelta(days=offset)):
                if opens <= instant <= closes:
                    return True
        return False


def _local_instant(tz: ZoneInfo, day: dt.date, minute: int) -> dt.datetime:
    if minute >= 1440:
        day, minute = day + dt.timedelta(days=1), minute - 1440
    naive = dt.datetime.combine(day, dt.time(minute // 60, minute % 60))
    return naive.replace(tzinfo=tz).astimezone(UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("SLA arithmetic needs timezone-aware datetimes")
    return value.astimezone(UTC)


def add_business_time(schedule: Schedule, start: dt.datetime, amount: dt.timedelta):
    """The instant when ``amount`` of working time has passed after ``start``.

    ``amount`` of zero returns ``start`` unchanged; a positive amount always lands inside a
    working interval (possibly exactly at its closing time).
    """
    start = _aware(start)
    if amount < ZERO:
        raise ValueError("cannot add a negative amount of business time")
    if amount == ZERO:
        return start
    remaining = amount
    for opens, closes in schedule.windows_from(start):
        begin = max(opens, start)
        available = closes - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise NoWorkingTime("the calendar has no working time to count on")


def business_time_between(schedule: Schedule, start: dt.datetime, end: dt.datetime):
    """Working time from ``start`` to ``end``; negative when ``end`` is before ``start``."""
    start, end = _aware(start), _aware(end)
    if end < start:
        return -business_time_between(schedule, end, start)
    first = start.astimezone(schedule.tz).date() - dt.timedelta(days=1)
    last = end.astimezone(schedule.tz).date() + dt.timedelta(days=1)
    # Near each end (the day before to the day after) intervals are clipped to the span; the
    # whole dates between lie entirely inside it and come from the running totals.
    edge = dt.timedelta(days=2)
    if last - first <= 2 * edge:
        return _clipped(schedule, start, end, first, last)
    return (
        _clipped(schedule, start, end, first, first + edge)
        + schedule.worked_on_dates(
            first + edge + dt.timedelta(days=1), last - edge - dt.timedelta(days=1)
        )
        + _clipped(schedule, start, end, last - edge, last)
    )


def _clipped(schedule: Schedule, start, end, first: dt.date, last: dt.date) -> dt.timedelta:
    """Working time between ``start`` and ``end`` on the dates ``first``..``last``."""
    total = ZERO
    day = first
    while day <= last:
        for opens, closes in schedule.windows_on(day):
            begin, finish = max(opens, start), min(closes, end)
            if finish > begin:
                total += finish - begin
        day += dt.timedelta(days=1)
    return total


def add_business_minutes(schedule: Schedule, start: dt.datetime, minutes: float):
    return add_business_time(schedule, start, dt.timedelta(minutes=minutes))


def business_minutes_between(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> float:
    return business_time_between(schedule, start, end).total_seconds() / 60


def format_business_minutes(minutes: float) -> str:
    """``-95`` → ``"-1h 35m"``; business time left (or overdue) for countdowns."""
    sign = "-" if minutes < 0 else ""
    whole = int(abs(minutes))
    hours, mins = divmod(whole, 60)
    if hours:
        return f"{sign}{hours}h {mins:02d}m"
    return f"{sign}{mins}m"
