"""Business-time arithmetic for SLAs.

A ``Schedule`` is a calendar reduced to plain data: a time zone, the working intervals of each
weekday (local wall-clock minutes since midnight, e.g. ``(540, 1020)`` for 09:00–17:00) and a
set of holiday dates. Working intervals are read on each local date and turned into absolute
(UTC) instants, so daylight-saving changes move them the way a clock on the office wall does.

- ``add_business_minutes(schedule, start, minutes)``: the instant when ``minutes`` of working
  time have passed after ``start``.
- ``business_minutes_between(schedule, start, end)``: working minutes from ``start`` to ``end``.

Both are exact to the microsecond (they work in ``timedelta``); the ``*_time`` variants take and
return ``timedelta``. Adding is the inverse of measuring: ``add(t, between(t, u))`` is the first
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

    def windows_on(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The working intervals of one local date, as aware UTC instants."""
        if day in self.holidays:
            return []
        windows = []
        for start, end in self.hours.get(day.weekday(), ()):
            opens = _local_instant(self.tz, day, start)
            closes = _local_instant(self.tz, day, end)
            if closes > opens:
                windows.append((opens, closes))
        return windows

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
    total = ZERO
    day = start.astimezone(schedule.tz).date() - dt.timedelta(days=1)
    last = end.astimezone(schedule.tz).date() + dt.timedelta(days=1)
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
