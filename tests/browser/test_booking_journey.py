"""A visitor books a free time on a seller's public booking page; the seller signs in and finds
the meeting under My meetings and the visitor as their new lead."""

import pytest

from crm.choices import Role
from crm.models import Meeting
from leads.booking.models import BookingPage
from leads.models import Lead
from tests.browser.navigation import nav_open
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_visitor_books_a_slot_and_the_seller_sees_the_meeting_and_the_lead(
    browser_page, live_server
):
    seller = UserFactory(username="rep", roles=[Role.SALES_REP], password="demo")
    BookingPage.objects.create(
        user=seller,
        slug="riley",
        enabled=True,
        title="Intro call",
        time_zone="UTC",
        notice_hours=1,
        working_hours=[["08:00", "18:00"]] * 7,
    )
    page = browser_page

    # The visitor picks the first free time and gives their details.
    page.goto(f"{live_server.url}/book/riley/")
    page.wait_for_selector("h1:has-text('Intro call')")
    page.click("a.btn-outline-primary >> nth=0")
    page.wait_for_selector("button:text('Book this time')")
    page.fill("input[name=name]", "Mia Visitor")
    page.fill("input[name=email]", "mia@newco.example")
    page.fill("input[name=company]", "Newco")
    page.fill("textarea[name=note]", "Pricing for 20 seats")
    page.click("button:text('Book this time')")
    page.wait_for_selector("h1:has-text('You are booked')")
    meeting = Meeting.objects.get()
    assert meeting.organizer == seller

    # The seller signs in: the meeting is under My meetings, the visitor is their lead.
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "rep")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    nav_open(page, "customers", "Meetings")
    page.wait_for_selector("text=Intro call with Mia Visitor")
    page.click("text=Intro call with Mia Visitor")
    page.wait_for_selector("h1:has-text('Intro call with Mia Visitor')")
    assert "mia@newco.example" in page.content()
    page.click("dd >> a:has-text('Mia Visitor')")
    page.wait_for_selector("h1:has-text('Mia Visitor')")
    lead = Lead.objects.get(email="mia@newco.example")
    assert lead.owner == seller and page.url.endswith(lead.get_absolute_url())
    assert "Upcoming meetings" in page.content() and "Intro call with Mia Visitor" in page.content()
