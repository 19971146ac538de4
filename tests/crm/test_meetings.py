"""Meetings: scheduled from a record, invitations as iCalendar emails, answers from the link
or from the attendee's calendar app, reschedule and cancel, "My meetings", the calendar
feed, and who may see a meeting."""

from datetime import timedelta
from email.message import EmailMessage

import icalendar
import pytest
from django.urls import reverse
from django.utils import timezone

from crm.choices import AttendeeResponse, MeetingStatus
from crm.models import Activity, Meeting, MeetingAttendee, Notification, OutboundEmail
from crm.services import meetings as services
from crm.services.meetings import Invitee
from crm.services.outbox import outbox_send_queued
from tests.factories.crm import (
    ContactFactory,
    MeetingAttendeeFactory,
    MeetingFactory,
    UserFactory,
)
from tests.factories.leads import LeadFactory

pytestmark = pytest.mark.django_db


def _at(days=2, hour=10):
    return (timezone.now() + timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )


@pytest.fixture
def contact(rep):
    return ContactFactory(owner=rep, first_name="Jana", last_name="Novak", email="jana@acme.test")


def _schedule(rep, contact, **extra):
    start = extra.pop("starts_at", _at())
    return services.meeting_schedule(
        organizer=rep,
        created_by=rep,
        subject=contact,
        title="Product demo",
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
        location="https://meet.example.com/abc",
        invitees=[Invitee(contact.email, contact.full_name, contact)],
        **extra,
    )


def _sent_calendar(mailoutbox, to):
    """The calendar part and its Content-Type of the last email sent to ``to``."""
    message = [m for m in mailoutbox if m.to == [to]][-1].message()
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    return icalendar.Calendar.from_ical(parts[0].get_payload(decode=True)), parts[0]


def test_an_invitation_carries_an_ics_request_that_parses(rep, contact, mailoutbox):
    meeting = _schedule(rep, contact)
    assert outbox_send_queued() == 1
    calendar, part = _sent_calendar(mailoutbox, "jana@acme.test")
    assert part.get_param("method") == "REQUEST"
    assert str(calendar["method"]) == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert str(event["uid"]) == meeting.uid
    assert int(event["sequence"]) == 0
    assert event.decoded("dtstart") == meeting.starts_at
    assert event.decoded("dtend") == meeting.ends_at
    assert event.decoded("dtstart").utcoffset() == timedelta(0)
    assert "dtstamp" in event
    assert str(event["organizer"]) == f"mailto:{rep.email}"
    (attendee,) = [event["attendee"]]
    assert str(attendee) == "mailto:jana@acme.test"
    assert attendee.params["RSVP"] == "TRUE" and attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    # The email body has the answer links, and the contact's timeline the meeting.
    body = mailoutbox[-1].body
    token = meeting.attendees.get().token
    assert f"/m/{token}/?answer=accepted" in body and "/?answer=declined" in body
    assert Activity.objects.filter(summary__startswith="Meeting scheduled: Product demo").exists()


def test_rescheduling_sends_an_update_with_the_next_sequence(rep, contact, mailoutbox):
    meeting = _schedule(rep, contact)
    later = meeting.starts_at + timedelta(days=1)
    meeting = services.meeting_update(
        meeting=meeting, user=rep, starts_at=later, ends_at=later + timedelta(minutes=45)
    )
    assert meeting.sequence == 1
    assert OutboundEmail.objects.filter(subject__startswith="Updated invitation").count() == 1
    outbox_send_queued()
    calendar, _ = _sent_calendar(mailoutbox, "jana@acme.test")
    (event,) = calendar.walk("VEVENT")
    assert int(event["sequence"]) == 1 and event.decoded("dtstart") == later
    # Saving the same values again sends nothing more.
    services.meeting_update(meeting=meeting, user=rep, starts_at=later)
    assert Meeting.objects.get(pk=meeting.pk).sequence == 1


def test_a_removed_guest_gets_a_cancellation_and_a_new_one_an_invitation(rep, contact, mailoutbox):
    meeting = _schedule(rep, contact)
    services.meeting_update(meeting=meeting, user=rep, invitees=[Invitee("new@acme.test")])
    subjects = dict(OutboundEmail.objects.values_list("to_email", "subject").order_by("id")[1:])
    assert subjects["jana@acme.test"].startswith("Cancelled: Product demo")
    assert subjects["new@acme.test"].startswith("Invitation: Product demo")
    assert Meeting.objects.get(pk=meeting.pk).sequence == 0  # the others' invitation stands
    assert list(meeting.attendees.values_list("email", flat=True)) == ["new@acme.test"]
    assert outbox_send_queued() == 3
    calendar, part = _sent_calendar(mailoutbox, "jana@acme.test")
    assert part.get_param("method") == "CANCEL"
    assert str(calendar.walk("VEVENT")[0]["uid"]) == meeting.uid


def test_cancelling_sends_method_cancel(rep, contact, mailoutbox):
    meeting = _schedule(rep, contact)
    outbox_send_queued()
    meeting = services.meeting_cancel(meeting=meeting, user=rep)
    assert meeting.status == MeetingStatus.CANCELLED and meeting.sequence == 1
    services.meeting_cancel(meeting=meeting, user=rep)  # twice: nothing more
    assert outbox_send_queued() == 1
    calendar, part = _sent_calendar(mailoutbox, "jana@acme.test")
    assert part.get_param("method") == "CANCEL" and str(calendar["method"]) == "CANCEL"
    (event,) = calendar.walk("VEVENT")
    assert str(event["status"]) == "CANCELLED" and int(event["sequence"]) == 1
    assert str(event["uid"]) == meeting.uid


def test_the_answer_link_records_the_answer_and_tells_the_organizer(rep, contact, client):
    meeting = _schedule(rep, contact)
    attendee = meeting.attendees.get()
    url = reverse("meeting_answer", args=[attendee.token])
    page = client.get(url + "?answer=accepted")
    assert page.status_code == 200 and "Product demo" in page.content.decode()
    attendee.refresh_from_db()
    assert attendee.response == AttendeeResponse.NEEDS_ACTION  # a GET answers nothing
    answered = client.post(url, {"response": "accepted"})
    assert answered.status_code == 200 and "knows your answer" in answered.content.decode()
    attendee.refresh_from_db()
    assert attendee.response == AttendeeResponse.ACCEPTED and attendee.responded_at
    note = Notification.objects.get(recipient=rep, kind="meeting_response")
    assert "Jana Novak" in note.verb and "Accepted" in note.verb
    assert Activity.objects.filter(summary__contains="answered “Accepted”").count() == 1
    client.post(url, {"response": "accepted"})  # the same answer again changes nothing
    assert Activity.objects.filter(summary__contains="answered").count() == 1
    assert client.post(url, {"response": "maybe-not"}).status_code == 400


def test_a_wrong_answer_token_is_404(client, db):
    assert client.get(reverse("meeting_answer", args=["not-a-token"])).status_code == 404
    assert client.post(reverse("meeting_answer", args=["nope"]), {}).status_code == 404


def _reply(meeting, email, partstat, sequence=None):
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Some calendar app//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "REPLY")
    event = icalendar.Event()
    event.add("uid", meeting.uid)
    event.add("sequence", meeting.sequence if sequence is None else sequence)
    event.add("dtstamp", timezone.now())
    attendee = icalendar.vCalAddress(f"mailto:{email}")
    attendee.params["partstat"] = icalendar.vText(partstat)
    event.add("attendee", attendee, encode=0)
    calendar.add_component(event)
    message = EmailMessage()
    message["Subject"] = f"Accepted: {meeting.title}"
    message["From"] = email
    message.set_content("Jana accepted.")
    message.add_attachment(
        calendar.to_ical(), maintype="text", subtype="calendar", params={"method": "REPLY"}
    )
    return message


def test_a_calendar_reply_by_email_records_the_answer(rep, contact):
    meeting = _schedule(rep, contact)
    message = _reply(meeting, "JANA@acme.test", "DECLINED")
    assert services.meeting_reply_from_email(message=message) is True
    attendee = meeting.attendees.get()
    assert attendee.response == AttendeeResponse.DECLINED
    # The same reply again, a reply to an older revision and one to an unknown meeting: ignored.
    assert services.meeting_reply_from_email(message=message) is False
    later = meeting.starts_at + timedelta(hours=2)
    meeting = services.meeting_update(
        meeting=meeting, user=rep, starts_at=later, ends_at=later + timedelta(minutes=30)
    )
    stale = _reply(meeting, "jana@acme.test", "ACCEPTED", sequence=0)
    assert services.meeting_reply_from_email(message=stale) is False
    unknown = _reply(Meeting(uid="nobody@else", title="x"), "jana@acme.test", "ACCEPTED")
    assert services.meeting_reply_from_email(message=unknown) is False
    stranger = _reply(meeting, "stranger@acme.test", "ACCEPTED")
    assert services.meeting_reply_from_email(message=stranger) is False
    assert MeetingAttendee.objects.get().response == AttendeeResponse.DECLINED


def test_scheduling_from_a_contact_page(rep, rep2, rep_client, contact):
    page = rep_client.get(contact.get_absolute_url())
    create_url = reverse("meeting_create", args=["crm.contact", contact.pk])
    assert create_url in page.content.decode() and "Upcoming meetings" in page.content.decode()
    form = rep_client.get(create_url)
    assert "jana@acme.test" in form.content.decode()
    start = timezone.localtime(_at(3))
    answer = rep_client.post(
        create_url,
        {
            "title": "Kick-off",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "duration": 60,
            "location": "Office",
            "invitees": ["jana@acme.test"],
            "extra_emails": "boss@acme.test, ",
            "users": [rep2.pk],
        },
    )
    assert answer.status_code == 302 and answer["Location"] == contact.get_absolute_url()
    meeting = Meeting.objects.get()
    assert meeting.subject == contact and meeting.organizer == rep
    assert meeting.duration_minutes == 60
    assert sorted(meeting.attendees.values_list("email", flat=True)) == [
        "boss@acme.test",
        "jana@acme.test",
        rep2.email,
    ]
    assert meeting.attendees.get(email=rep2.email).user == rep2
    assert rep2 in [a.user for a in meeting.attendees.all()]
    assert "Kick-off" in rep_client.get(contact.get_absolute_url()).content.decode()
    detail = rep_client.get(meeting.get_absolute_url())
    assert detail.status_code == 200 and "boss@acme.test" in detail.content.decode()


def test_scheduling_from_a_lead_and_a_deal_invites_their_person(rep, rep_client):
    from tests.factories.sales import OpportunityFactory

    lead = LeadFactory(owner=rep, email="lead@prospect.test")
    form = rep_client.get(reverse("meeting_create", args=["leads.lead", lead.pk]))
    assert form.status_code == 200 and "lead@prospect.test" in form.content.decode()
    deal = OpportunityFactory(owner=rep)
    page = rep_client.get(deal.get_absolute_url())
    assert reverse("meeting_create", args=["sales.opportunity", deal.pk]) in page.content.decode()


def test_editing_and_cancelling_through_the_pages(rep, rep_client, contact):
    meeting = _schedule(rep, contact)
    edit_url = reverse("meeting_edit", args=[meeting.pk])
    assert rep_client.get(edit_url).status_code == 200
    later = timezone.localtime(meeting.starts_at + timedelta(days=1))
    answer = rep_client.post(
        edit_url,
        {
            "title": "Product demo",
            "starts_at": later.strftime("%Y-%m-%dT%H:%M"),
            "duration": 30,
            "location": meeting.location,
            "invitees": ["jana@acme.test"],
        },
    )
    assert answer.status_code == 302
    meeting.refresh_from_db()
    assert meeting.sequence == 1 and meeting.starts_at == later
    assert rep_client.post(reverse("meeting_cancel", args=[meeting.pk])).status_code == 302
    meeting.refresh_from_db()
    assert meeting.is_cancelled


def test_my_meetings_lists_upcoming_ones_first_in_a_fixed_number_of_queries(
    rep, rep_client, django_assert_max_num_queries
):
    for days in (3, 1, 2):
        meeting = MeetingFactory(organizer=rep, about=ContactFactory(), starts_at=_at(days))
        MeetingAttendeeFactory(meeting=meeting)
    MeetingFactory(organizer=rep, starts_at=_at(-3), title="Last week")
    invited = MeetingFactory(starts_at=_at(4), title="Invited by a colleague")
    MeetingAttendeeFactory(meeting=invited, user=rep, email=rep.email)
    MeetingFactory(starts_at=_at(1), title="Someone else")
    with django_assert_max_num_queries(16):
        page = rep_client.get(reverse("meeting_list"))
    html = page.content.decode()
    titles = [m.title for m in Meeting.objects.involving(rep).upcoming().order_by("starts_at")]
    positions = [html.index(title) for title in titles]
    assert positions == sorted(positions) and len(titles) == 4
    assert "Last week" not in html and "Someone else" not in html
    assert "Last week" in rep_client.get(reverse("meeting_list") + "?when=past").content.decode()
    for _ in range(10):
        MeetingAttendeeFactory(meeting=MeetingFactory(organizer=rep, about=ContactFactory()))
    with django_assert_max_num_queries(16):
        rep_client.get(reverse("meeting_list"))


def test_others_meetings_answer_404(rep, rep2, rep_client):
    lead = LeadFactory(owner=rep2)
    meeting = MeetingFactory(organizer=rep2, about=lead)
    assert rep_client.get(meeting.get_absolute_url()).status_code == 404
    assert rep_client.get(reverse("meeting_edit", args=[meeting.pk])).status_code == 404
    assert rep_client.post(reverse("meeting_cancel", args=[meeting.pk])).status_code == 404
    assert (
        rep_client.get(reverse("meeting_create", args=["leads.lead", lead.pk])).status_code == 404
    )
    # Only kinds of record meetings are about.
    assert rep_client.get(reverse("meeting_create", args=["crm.task", 1])).status_code == 404
    # Invited, the rep sees it but does not change it.
    MeetingAttendeeFactory(meeting=meeting, user=rep, email=rep.email)
    assert rep_client.get(meeting.get_absolute_url()).status_code == 200
    assert rep_client.get(reverse("meeting_edit", args=[meeting.pk])).status_code == 404


def test_visibility_follows_the_record(rep, rep2, manager, agent):
    on_contact = MeetingFactory(organizer=rep2, about=ContactFactory(owner=rep2))
    on_lead = MeetingFactory(organizer=rep2, about=LeadFactory(owner=rep2))
    mine = MeetingFactory(organizer=rep)
    assert set(Meeting.objects.visible_to(rep)) == {on_contact, mine}
    assert set(Meeting.objects.visible_to(manager)) == {on_contact, on_lead, mine}
    assert set(Meeting.objects.visible_to(agent)) == {on_contact}
    assert not Meeting.objects.visible_to(UserFactory())  # no role
    assert set(Meeting.objects.changeable_by(rep)) == {mine}


def test_the_calendar_feed_lists_only_the_users_meetings(rep, rep2, rep_client, client):
    mine = MeetingFactory(organizer=rep, title="Mine")
    invited = MeetingFactory(organizer=rep2, title="Invited")
    MeetingAttendeeFactory(meeting=invited, user=rep, email=rep.email)
    MeetingFactory(organizer=rep2, title="Not mine")
    MeetingFactory(organizer=rep, title="Long ago", starts_at=_at(-200))
    settings_page = rep_client.get(reverse("calendar_settings"))
    feed = services.calendar_feed_for(user=rep)
    assert services.calendar_feed_url(feed) in settings_page.content.decode()
    client.logout()
    answer = client.get(reverse("calendar_feed", args=[feed.token]))
    assert answer.status_code == 200
    assert answer["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(answer.content)
    uids = {str(e["uid"]) for e in calendar.walk("VEVENT")}
    assert uids == {mine.uid, invited.uid}
    assert client.get(reverse("calendar_feed", args=["wrong"])).status_code == 404


def test_a_new_feed_address_retires_the_old_one(rep, rep_client, client):
    old = services.calendar_feed_for(user=rep).token
    assert rep_client.post(reverse("calendar_settings")).status_code == 302
    new = services.calendar_feed_for(user=rep).token
    assert new != old
    assert client.get(reverse("calendar_feed", args=[old])).status_code == 404
    assert client.get(reverse("calendar_feed", args=[new])).status_code == 200


def test_todays_meetings_show_on_a_reps_home(rep, rep_client):
    soon = timezone.now() + timedelta(minutes=5)
    if timezone.localtime(soon).date() != timezone.localdate():
        pytest.skip("too close to midnight for a meeting later today")
    MeetingFactory(organizer=rep, title="Call with Acme", starts_at=soon)
    assert "Call with Acme" in rep_client.get(reverse("home")).content.decode()
