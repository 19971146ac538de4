"""A seller's public booking page: free slots from working hours minus meetings (with the
buffer) and the notice; a visitor's booking makes the meeting and a lead assigned to the seller
(or links the contact they already are); one slot is never booked twice."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import Meeting, Notification, OutboundEmail
from leads.booking.models import BookingPage
from leads.models import Lead
from leads.services import booking as services
from leads.views.booking import slot_key
from tests.factories.crm import ContactFactory, MeetingAttendeeFactory, MeetingFactory

MORNINGS = [["09:00", "12:00"]] * 5 + [[], []]


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    cache.clear()


def _page(user, **extra):
    values = {
        "user": user,
        "slug": "rep-booking",
        "enabled": True,
        "time_zone": "UTC",
        "meeting_minutes": 30,
        "buffer_minutes": 15,
        "notice_hours": 2,
        "days_ahead": 14,
        "working_hours": MORNINGS,
        "title": "Intro call",
    }
    values.update(extra)
    return BookingPage.objects.create(**values)


def _a_monday_ahead() -> datetime:
    day = timezone.now().astimezone(UTC).date() + timedelta(days=8)
    day += timedelta(days=(7 - day.weekday()) % 7)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _times(days, day):
    (match,) = [d for d in days if d.day == day.date()]
    return [slot.strftime("%H:%M") for slot in match.slots]


@pytest.mark.django_db
def test_slots_follow_working_hours_buffer_meetings_and_notice(rep):
    page = _page(rep)
    monday = _a_monday_ahead()
    now = monday - timedelta(days=2)  # the Saturday before
    days = services.booking_slots(page=page, now=now)
    assert _times(days, monday) == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    assert {d.day.weekday() for d in days} <= {0, 1, 2, 3, 4}  # no weekend slots
    # A meeting 10:00–10:30 with a 15 minute buffer keeps 09:45–10:45 free.
    MeetingFactory(
        organizer=rep, starts_at=monday.replace(hour=10), ends_at=monday.replace(hour=10, minute=30)
    )
    days = services.booking_slots(page=page, now=now)
    assert _times(days, monday) == ["09:00", "11:00", "11:30"]
    # A meeting the seller is invited to counts too; a cancelled one does not.
    other = MeetingFactory(
        starts_at=monday.replace(hour=11), ends_at=monday.replace(hour=11, minute=30)
    )
    MeetingAttendeeFactory(meeting=other, user=rep, email=rep.email)
    MeetingFactory(organizer=rep, status="cancelled", starts_at=monday.replace(hour=9))
    days = services.booking_slots(page=page, now=now)
    assert _times(days, monday) == ["09:00"]
    # Two hours' notice: at 07:30 the 09:00 slot is too soon.
    days = services.booking_slots(page=page, now=monday.replace(hour=7, minute=30))
    assert monday.date() not in [d.day for d in days]
    # Someone else's meetings take nothing from this seller.
    MeetingFactory(starts_at=monday.replace(hour=9), ends_at=monday.replace(hour=9, minute=30))
    assert _times(services.booking_slots(page=page, now=now), monday) == ["09:00"]


@pytest.mark.django_db
def test_slots_are_in_the_sellers_time_zone(rep):
    page = _page(rep, time_zone="America/New_York", working_hours=[["09:00", "10:00"]] * 7)
    monday = _a_monday_ahead()
    days = services.booking_slots(page=page, now=monday - timedelta(days=1))
    first = [d for d in days if d.day == monday.date()][0].slots[0]
    assert first.astimezone(UTC).hour in (13, 14)  # 9:00 in New York (EDT or EST)


def _first_free(page):
    return services.booking_slots(page=page)[0].slots[0]


@pytest.mark.django_db
def test_a_booking_makes_a_meeting_and_a_lead_of_the_seller(rep, client):
    page = _page(rep)
    slot = _first_free(page)
    url = reverse("leads:booking_public", args=[page.slug])
    listing = client.get(url)
    assert listing.status_code == 200 and slot_key(slot) in listing.content.decode()
    form = client.get(url, {"slot": slot_key(slot)})
    assert form.status_code == 200 and "Book this time" in form.content.decode()
    answer = client.post(
        url,
        {
            "slot": slot_key(slot),
            "name": "Mia Visitor",
            "email": "Mia@Newco.test",
            "company": "Newco",
            "note": "Pricing for 20 seats",
            "consent": "on",
        },
    )
    assert answer.status_code == 302
    assert answer["Location"] == reverse("leads:booking_done", args=[page.slug])
    meeting = Meeting.objects.get()
    lead = Lead.objects.get()
    assert meeting.organizer == rep and meeting.subject == lead and meeting.starts_at == slot
    assert meeting.ends_at - meeting.starts_at == timedelta(minutes=30)
    assert lead.owner == rep and lead.email == "mia@newco.test" and lead.company_name == "Newco"
    assert lead.last_name == "Visitor" and lead.first_name == "Mia" and lead.marketing_consent
    (attendee,) = meeting.attendees.all()
    assert attendee.email == "mia@newco.test"
    assert OutboundEmail.objects.filter(to_email="mia@newco.test").count() == 1
    note = Notification.objects.get(recipient=rep, kind="meeting_booked")
    assert "Mia Visitor" in note.verb
    # The slot is gone from the page.
    assert slot_key(slot) not in client.get(url).content.decode()


@pytest.mark.django_db
def test_a_known_contacts_booking_goes_on_the_contact(rep, client):
    contact = ContactFactory(email="known@acme.test", first_name="Kim", last_name="Known")
    page = _page(rep)
    slot = _first_free(page)
    answer = client.post(
        reverse("leads:booking_public", args=[page.slug]),
        {"slot": slot_key(slot), "name": "Kim Known", "email": "known@acme.test"},
    )
    assert answer.status_code == 302
    meeting = Meeting.objects.get()
    assert meeting.subject == contact and not Lead.objects.exists()
    assert meeting.attendees.get().contact == contact


@pytest.mark.django_db
def test_a_taken_or_bad_slot_is_refused(rep, client):
    page = _page(rep)
    slot = _first_free(page)
    MeetingFactory(organizer=rep, starts_at=slot, ends_at=slot + timedelta(minutes=30))
    url = reverse("leads:booking_public", args=[page.slug])
    answer = client.post(url, {"slot": slot_key(slot), "name": "Late", "email": "late@x.test"})
    assert answer.status_code == 409 and "just taken" in answer.content.decode()
    off_grid = slot + timedelta(minutes=7)
    answer = client.post(url, {"slot": slot_key(off_grid), "name": "Odd", "email": "o@x.test"})
    assert answer.status_code == 409
    assert (
        client.post(url, {"slot": "garbage", "name": "X", "email": "x@x.test"}).status_code == 400
    )
    assert Meeting.objects.count() == 1 and not Lead.objects.exists()


@pytest.mark.django_db
def test_the_honeypot_and_the_rate_limit(rep, client, settings):
    settings.LEAD_FORM_RATE_LIMIT = 2
    page = _page(rep)
    slot = _first_free(page)
    url = reverse("leads:booking_public", args=[page.slug])
    data = {"slot": slot_key(slot), "name": "Bot", "email": "bot@x.test", "website_url": "x"}
    assert client.post(url, data).status_code == 302
    assert not Meeting.objects.exists()
    client.post(url, data)
    assert client.post(url, data).status_code == 429


@pytest.mark.django_db
def test_a_page_that_is_off_or_unknown_is_404(rep, client):
    page = _page(rep, enabled=False)
    assert client.get(reverse("leads:booking_public", args=[page.slug])).status_code == 404
    assert client.get(reverse("leads:booking_public", args=["nobody"])).status_code == 404


@pytest.mark.django_db
def test_the_seller_sets_up_the_page(rep, rep_client):
    url = reverse("leads:booking_settings")
    page = rep_client.get(url)
    assert page.status_code == 200
    data = {
        "enabled": "on",
        "slug": "anna-sells",
        "title": "Demo",
        "intro": "Half an hour",
        "location": "https://meet.example.com/anna",
        "meeting_minutes": 45,
        "buffer_minutes": 10,
        "notice_hours": 12,
        "days_ahead": 21,
        "time_zone": "Europe/Berlin",
    }
    for day in range(7):
        data[f"day{day}_start"] = "08:30" if day < 4 else ""
        data[f"day{day}_end"] = "16:00" if day < 4 else ""
    assert rep_client.post(url, data).status_code == 302
    booking = BookingPage.objects.get(user=rep)
    assert booking.enabled and booking.slug == "anna-sells" and booking.meeting_minutes == 45
    assert booking.working_hours == [["08:30", "16:00"]] * 4 + [[], [], []]
    assert booking.time_zone == "Europe/Berlin"
    data["day5_start"] = "10:00"  # a start without an end
    assert rep_client.post(url, data).status_code == 200


@pytest.mark.django_db
def test_agents_have_no_booking_page(agent_client):
    assert agent_client.get(reverse("leads:booking_settings")).status_code == 404


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_visitors_booking_one_slot_at_once_one_wins(rep):
    page = _page(rep)
    slot = _first_free(page)
    url = reverse("leads:booking_public", args=[page.slug])
    barrier = threading.Barrier(2)
    statuses, errors = [], []

    def book(n):
        try:
            barrier.wait(timeout=30)
            response = Client().post(
                url, {"slot": slot_key(slot), "name": f"Visitor {n}", "email": f"v{n}@x.test"}
            )
            statuses.append(response.status_code)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(statuses) == [302, 409]
    assert Meeting.objects.filter(starts_at=slot).count() == 1
