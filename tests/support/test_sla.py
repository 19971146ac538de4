"""Business-time arithmetic: hand-worked cases, then properties on random calendars."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from support.sla import (
    NoWorkingTime,
    Schedule,
    add_business_minutes,
    add_business_time,
    business_minutes_between,
    business_time_between,
    format_business_minutes,
)

BERLIN = ZoneInfo("Europe/Berlin")
NINE_TO_FIVE = {d: [(9 * 60, 17 * 60)] for d in range(5)}


def berlin(*args):
    return dt.datetime(*args, tzinfo=BERLIN)


@pytest.fixture
def office():
    """Berlin, Monday–Friday 09:00–17:00, Monday 21 December 2026 a holiday."""
    return Schedule.build("Europe/Berlin", NINE_TO_FIVE, [dt.date(2026, 12, 21)])


def test_adding_across_a_weekend_and_a_holiday(office):
    # Friday 18 Dec 16:00 + 120 min: 60 on Friday, weekend, Monday holiday, 60 on Tuesday.
    assert add_business_minutes(office, berlin(2026, 12, 18, 16), 120) == berlin(2026, 12, 22, 10)


def test_adding_across_a_weekend_without_the_holiday():
    office = Schedule.build("Europe/Berlin", NINE_TO_FIVE)
    assert add_business_minutes(office, berlin(2026, 12, 18, 16), 120) == berlin(2026, 12, 21, 10)


def test_start_outside_hours_counts_from_the_next_opening(office):
    assert add_business_minutes(office, berlin(2026, 12, 15, 7), 30) == berlin(2026, 12, 15, 9, 30)
    assert add_business_minutes(office, berlin(2026, 12, 19, 12), 30) == berlin(2026, 12, 22, 9, 30)
    assert add_business_minutes(office, berlin(2026, 12, 15, 18), 480) == berlin(2026, 12, 16, 17)


def test_daylight_saving_change_follows_the_office_clock():
    office = Schedule.build("Europe/Berlin", NINE_TO_FIVE)
    # Friday 27 March 2026 16:00 CET; clocks go forward on Sunday 29 March.
    due = add_business_minutes(office, berlin(2026, 3, 27, 16), 120)
    assert due == berlin(2026, 3, 30, 10)
    assert due.astimezone(BERLIN).utcoffset() == dt.timedelta(hours=2)
    assert due.astimezone(dt.UTC) == dt.datetime(2026, 3, 30, 8, tzinfo=dt.UTC)


def test_minutes_between_skip_weekend_and_holiday(office):
    assert (
        business_minutes_between(office, berlin(2026, 12, 18, 16, 30), berlin(2026, 12, 22, 11))
        == 150
    )
    assert business_minutes_between(office, berlin(2026, 12, 19, 10), berlin(2026, 12, 20, 10)) == 0
    assert (
        business_minutes_between(office, berlin(2026, 12, 22, 11), berlin(2026, 12, 18, 16, 30))
        == -150
    )


def test_lunch_break_and_zero():
    schedule = Schedule.build("UTC", {0: [(540, 720), (780, 1020)]})
    monday = dt.datetime(2026, 12, 14, 11, tzinfo=dt.UTC)
    assert add_business_minutes(schedule, monday, 90) == monday.replace(hour=13, minute=30)
    assert add_business_minutes(schedule, monday, 0) == monday


def test_no_working_time_and_bad_input():
    with pytest.raises(NoWorkingTime):
        add_business_minutes(Schedule.build("UTC", {}), dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 5)
    with pytest.raises(ValueError):
        Schedule.build("UTC", {0: [(600, 500)]})
    with pytest.raises(ValueError):
        add_business_minutes(Schedule.build("UTC", NINE_TO_FIVE), dt.datetime(2026, 1, 1), 5)


def test_countdown_text():
    assert format_business_minutes(95) == "1h 35m"
    assert format_business_minutes(-95.5) == "-1h 35m"
    assert format_business_minutes(42) == "42m"


# Properties --------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]


@st.composite
def schedules(draw):
    hours = {}
    for weekday in range(7):
        cuts = sorted(draw(st.sets(st.integers(0, 1440), max_size=4)))
        intervals = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
        intervals = [(s, e) for s, e in intervals if e > s]
        if intervals:
            hours[weekday] = intervals
    assume(hours)
    holidays = draw(st.sets(st.dates(dt.date(2026, 1, 1), dt.date(2027, 6, 30)), max_size=30))
    return Schedule.build(draw(st.sampled_from(ZONES)), hours, holidays)


instants = st.datetimes(
    min_value=dt.datetime(2026, 1, 1),
    max_value=dt.datetime(2026, 12, 31),
    timezones=st.just(dt.UTC),
)
amounts = st.integers(min_value=1, max_value=20_000).map(lambda m: dt.timedelta(minutes=m))


def fits(schedule, *amounts):
    """Whether the amounts fit in about 40 weeks of this calendar (a calendar with a minute a
    week has no working time to speak of, and the search stops after three years)."""
    weekly = sum(e - s for intervals in schedule.hours.values() for s, e in intervals)
    return sum(a.total_seconds() / 60 for a in amounts) <= weekly * 40


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(schedules(), instants, amounts)
def test_added_time_is_measured_back_exactly_and_lands_in_working_hours(schedule, start, amount):
    assume(fits(schedule, amount))
    end = add_business_time(schedule, start, amount)
    assert end > start
    assert business_time_between(schedule, start, end) == amount
    assert schedule.is_working(end)


@PROPERTY
@given(schedules(), instants, instants)
def test_adding_the_elapsed_time_gets_back_to_the_end(schedule, start, end):
    assume(end >= start)
    elapsed = business_time_between(schedule, start, end)
    back = add_business_time(schedule, start, elapsed)
    assert back <= end
    assert business_time_between(schedule, start, back) == elapsed
    if schedule.is_working(end) and elapsed > dt.timedelta(0):
        assert back == end


@PROPERTY
@given(schedules(), instants, instants, amounts, amounts)
def test_monotonic_in_start_and_amount(schedule, t1, t2, a1, a2):
    assume(fits(schedule, a1, a2))
    t1, t2 = sorted((t1, t2))
    a1, a2 = sorted((a1, a2))
    assert add_business_time(schedule, t1, a1) <= add_business_time(schedule, t1, a2)
    assert add_business_time(schedule, t1, a1) <= add_business_time(schedule, t2, a1)


@PROPERTY
@given(schedules(), instants, amounts, amounts)
def test_adding_in_two_steps_equals_adding_once(schedule, start, a, b):
    assume(fits(schedule, a, b))
    once = add_business_time(schedule, start, a + b)
    assert add_business_time(schedule, add_business_time(schedule, start, a), b) == once


def day_by_day(schedule, start, end):
    """The working time from ``start`` to ``end`` read off every date's intervals one by one."""
    total = dt.timedelta(0)
    day = start.astimezone(schedule.tz).date() - dt.timedelta(days=1)
    while day <= end.astimezone(schedule.tz).date() + dt.timedelta(days=1):
        for opens, closes in Schedule.build(
            schedule.tz, schedule.hours, schedule.holidays
        ).windows_on(day):
            total += max(min(closes, end) - max(opens, start), dt.timedelta(0))
        day += dt.timedelta(days=1)
    return total


@PROPERTY
@given(schedules(), st.lists(st.tuples(instants, instants), min_size=1, max_size=6))
def test_measuring_many_spans_on_one_schedule_matches_counting_day_by_day(schedule, spans):
    # One schedule measures spans in any order (its running totals grow both ways).
    for start, end in spans:
        start, end = sorted((start, end))
        assert business_time_between(schedule, start, end) == day_by_day(schedule, start, end)
        assert business_time_between(schedule, end, start) == -day_by_day(schedule, start, end)
