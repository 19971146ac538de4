"""Meetings: scheduling from a record, iCalendar invitations by email, the attendees' answers
(from the link in the invitation or from their calendar app's reply), and each user's
calendar feed.

An invitation is an outbox email per attendee (``crm.services.outbox``) carrying an ``.ics``
file made at send time (``MEETING_INVITE_ATTACHMENT``), with METHOD:REQUEST, or METHOD:CANCEL
when the meeting is called off. Every change an attendee's calendar must see (a new time or
place, a cancellation) raises the meeting's SEQUENCE, and the email's idempotency key names
that revision, so a retried request queues each revision once and calendars keep the newest.
"""

import email.message
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from uuid import uuid4
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from crm.choices import AttendeeResponse, MeetingStatus
from crm.db import lock_rows
from crm.models import CalendarFeed, Contact, Meeting, MeetingAttendee, User
from crm.registry import AttachmentGone, EmailAttachment
from crm.services.notifications import notify
from crm.services.outbox import email_queue
from crm.services.timeline import activity_log, system_event

logger = logging.getLogger(__name__)

#: The outbox attachment kind of an invitation's .ics (``crm.registry.email_attachments``).
MEETING_INVITE_ATTACHMENT = "crm.meeting_invite"
#: The notification kind of an attendee's answer, sent to the organizer.
RESPONSE_NOTIFICATION = "meeting_response"
#: What the calendar feed lists around today.
FEED_DAYS_BACK = 90
FEED_DAYS_AHEAD = 365
#: Fields whose change attendees' calendars must see (a new revision of the invitation).
INVITE_FIELDS = ("title", "description", "location", "starts_at", "ends_at")

PARTSTAT = {
    AttendeeResponse.NEEDS_ACTION: "NEEDS-ACTION",
    AttendeeResponse.ACCEPTED: "ACCEPTED",
    AttendeeResponse.TENTATIVE: "TENTATIVE",
    AttendeeResponse.DECLINED: "DECLINED",
}
RESPONSE_OF_PARTSTAT = {value: key for key, value in PARTSTAT.items()}


@dataclass(frozen=True)
class Invitee:
    """Someone to invite: an address, with the contact or user it belongs to when known."""

    email: str
    name: str = ""
    contact: Contact | None = None
    user: User | None = None


def _site_host() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def _zone(name: str):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def meeting_local_times(meeting: Meeting) -> tuple[datetime, datetime]:
    zone = _zone(meeting.time_zone)
    return meeting.starts_at.astimezone(zone), meeting.ends_at.astimezone(zone)


def meeting_when(meeting: Meeting) -> str:
    """ "Tue 8 Dec 2026, 14:00–14:30 (Europe/Berlin)", in the meeting's own time zone."""
    start, end = meeting_local_times(meeting)
    return f"{start:%a %-d %b %Y, %H:%M}–{end:%H:%M} ({meeting.time_zone})"


def _clean_invitees(invitees, organizer) -> list[Invitee]:
    """One invitee per address (the first wins), never the organizer."""
    seen, cleaned = {(organizer.email or "").strip().lower()} - {""}, []
    for invitee in invitees:
        address = (invitee.email or "").strip().lower()
        if not address or address in seen:
            continue
        seen.add(address)
        cleaned.append(
            Invitee(address, (invitee.name or "").strip()[:200], invitee.contact, invitee.user)
        )
    return cleaned


def _check_times(starts_at, ends_at) -> None:
    if starts_at is None or ends_at is None:
        raise ValidationError("A meeting needs a start and an end.")
    if timezone.is_naive(starts_at) or timezone.is_naive(ends_at):
        raise ValidationError("Meeting times must carry a time zone.")
    if ends_at <= starts_at:
        raise ValidationError({"duration": "A meeting ends after it starts."})


@transaction.atomic
def meeting_schedule(
    *,
    organizer: User,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    invitees=(),
    subject=None,
    location: str = "",
    description: str = "",
    time_zone: str = "",
    created_by: User | None = None,
) -> Meeting:
    """Schedule a meeting (about ``subject``, a record, when given) and email each invitee an
    invitation with the .ics and their answer links; a line goes on the record's timeline."""
    _check_times(starts_at, ends_at)
    if not (title or "").strip():
        raise ValidationError({"title": "A meeting needs a title."})
    meeting = Meeting(
        title=title.strip()[:200],
        description=description,
        location=location.strip()[:500],
        starts_at=starts_at,
        ends_at=ends_at,
        time_zone=time_zone or timezone.get_current_timezone_name(),
        organizer=organizer,
        created_by=created_by,
        uid=f"{uuid4()}@{_site_host()}",
    )
    if subject is not None:
        meeting.content_type = ContentType.objects.get_for_model(subject)
        meeting.object_id = subject.pk
    meeting.full_clean(exclude=["uid", "content_type", "object_id"])
    meeting.save()
    for invitee in _clean_invitees(invitees, organizer):
        MeetingAttendee.objects.create(
            meeting=meeting,
            email=invitee.email,
            name=invitee.name,
            contact=invitee.contact,
            user=invitee.user,
        )
    _invite_all(meeting)
    if subject is not None:
        activity_log(
            subject=subject,
            kind="meeting",
            summary=f"Meeting scheduled: {meeting.title}, {meeting_when(meeting)}",
            body=_attendee_lines(meeting),
            actor=created_by,
        )
    return meeting


@transaction.atomic
def meeting_update(*, meeting: Meeting, user: User | None, invitees=None, **fields) -> Meeting:
    """Change a meeting. A new time, place, title or description is a new revision (SEQUENCE
    + 1) sent to every attendee as an updated invitation; ``invitees`` (when given) is the new
    list: newcomers are invited, those left out get a cancellation (and leave the list)."""
    lock_rows(Meeting, meeting.pk)
    current = Meeting.objects.get(pk=meeting.pk)
    if current.is_cancelled:
        raise ValidationError("This meeting was cancelled; schedule a new one.")
    changed = [name for name, value in fields.items() if getattr(current, name) != value]
    for name in changed:
        setattr(current, name, fields[name])
    _check_times(current.starts_at, current.ends_at)
    removed: list[MeetingAttendee] = []
    added: list[MeetingAttendee] = []
    if invitees is not None:
        wanted = {i.email: i for i in _clean_invitees(invitees, current.organizer)}
        existing = {a.email: a for a in current.attendees.all()}
        removed = [a for address, a in existing.items() if address not in wanted]
        for address, invitee in wanted.items():
            if address not in existing:
                added.append(
                    MeetingAttendee.objects.create(
                        meeting=current,
                        email=address,
                        name=invitee.name,
                        contact=invitee.contact,
                        user=invitee.user,
                    )
                )
    revised = any(name in INVITE_FIELDS for name in changed)
    # Only a revision every guest receives raises SEQUENCE: calendars of guests left out of one
    # would answer with an older number, and their answers would be taken for stale ones.
    if revised:
        current.sequence += 1
    if changed:
        current.full_clean(exclude=["uid", "content_type", "object_id"])
        current.save(update_fields=[*changed, "sequence", "updated_at"])
    for attendee in removed:
        _queue_invite(current, attendee, method="CANCEL")
    MeetingAttendee.objects.filter(pk__in=[a.pk for a in removed]).delete()
    if revised:
        _invite_all(current)  # newcomers included
    else:
        for attendee in added:
            _queue_invite(current, attendee, method="REQUEST")
    if (revised or added or removed) and current.subject is not None:
        what = "rescheduled" if {"starts_at", "ends_at"} & set(changed) else "updated"
        activity_log(
            subject=current.subject,
            kind="meeting",
            summary=f"Meeting {what}: {current.title}, {meeting_when(current)}",
            body=_attendee_lines(current),
            actor=user,
        )
    return current


@transaction.atomic
def meeting_cancel(*, meeting: Meeting, user: User | None) -> Meeting:
    """Call a meeting off: every attendee gets a cancellation (METHOD:CANCEL), which removes
    it from their calendar. Cancelling twice changes nothing."""
    lock_rows(Meeting, meeting.pk)
    current = Meeting.objects.get(pk=meeting.pk)
    if current.is_cancelled:
        return current
    current.status = MeetingStatus.CANCELLED
    current.sequence += 1
    current.save(update_fields=["status", "sequence", "updated_at"])
    for attendee in current.attendees.all():
        _queue_invite(current, attendee, method="CANCEL")
    if current.subject is not None:
        activity_log(
            subject=current.subject,
            kind="meeting",
            summary=f"Meeting cancelled: {current.title}, {meeting_when(current)}",
            actor=user,
        )
    return current


def _attendee_lines(meeting: Meeting) -> str:
    return "\n".join(f"Invited: {a.label}" for a in meeting.attendees.all())


# Invitations -----------------------------------------------------------------------------------


def _invite_all(meeting: Meeting) -> None:
    for attendee in meeting.attendees.all():
        _queue_invite(meeting, attendee, method="REQUEST")


def meeting_answer_url(attendee: MeetingAttendee, answer: str = "") -> str:
    url = settings.SITE_URL.rstrip("/") + reverse("meeting_answer", args=[attendee.token])
    return f"{url}?answer={answer}" if answer else url


def _queue_invite(meeting: Meeting, attendee: MeetingAttendee, *, method: str) -> None:
    """One invitation (or cancellation) email to one attendee, once per revision."""
    cancel = method == "CANCEL"
    context = {
        "meeting": meeting,
        "attendee": attendee,
        "when": meeting_when(meeting),
        "cancel": cancel,
        "updated": meeting.sequence > 0 and not cancel,
        "answers": [
            (label, meeting_answer_url(attendee, value))
            for value, label in (
                (AttendeeResponse.ACCEPTED, "Accept"),
                (AttendeeResponse.TENTATIVE, "Maybe"),
                (AttendeeResponse.DECLINED, "Decline"),
            )
        ],
    }
    if cancel:
        subject = f"Cancelled: {meeting.title} ({meeting_when(meeting)})"
    elif meeting.sequence:
        subject = f"Updated invitation: {meeting.title} ({meeting_when(meeting)})"
    else:
        subject = f"Invitation: {meeting.title} ({meeting_when(meeting)})"
    email_queue(
        to_email=attendee.email,
        subject=subject,
        body_text=render_to_string("crm/meetings/invite_email.txt", context),
        body_html=render_to_string("crm/meetings/invite_email.html", context),
        related=meeting.subject,
        # Ids only, in the key and the attachment's ref: a person's erasure scrubs the message's
        # address and text, and nothing else of the row names them.
        idempotency_key=f"meeting:{meeting.pk}:{meeting.sequence}:{method}:{attendee.pk}",
        attachments=[
            {
                "kind": MEETING_INVITE_ATTACHMENT,
                "ref": {"meeting_id": meeting.pk, "attendee_id": attendee.pk, "method": method},
            }
        ],
    )


def meeting_invite_attachment(ref: dict) -> EmailAttachment:
    """The .ics of an invitation, made when the email is sent: the meeting as it is then (a
    cancelled meeting always as a cancellation, so a late invitation never revives it). A
    cancellation names its attendee; one sent to a guest removed from the list (their row is
    gone) names none, and calendars drop the event by its UID."""
    meeting = Meeting.objects.select_related("organizer").filter(pk=ref.get("meeting_id")).first()
    if meeting is None:
        raise AttachmentGone(f"Meeting {ref.get('meeting_id')} no longer exists")
    method = "CANCEL" if meeting.is_cancelled or ref.get("method") == "CANCEL" else "REQUEST"
    attendees = list(meeting.attendees.all())
    if method == "CANCEL":
        attendees = [a for a in attendees if a.pk == ref.get("attendee_id")]
    content = meeting_ics(meeting=meeting, method=method, attendees=attendees)
    return EmailAttachment(
        filename="invite.ics" if method == "REQUEST" else "cancel.ics",
        content=content,
        mimetype="text/calendar",
        params=(("method", method),),
    )


def _organizer_address(meeting: Meeting) -> str:
    from email.utils import parseaddr

    return meeting.organizer.email or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def _event(meeting: Meeting, *, method: str, attendees) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", meeting.uid)
    event.add("sequence", meeting.sequence)
    event.add("dtstamp", timezone.now().astimezone(ZoneInfo("UTC")))
    event.add("dtstart", meeting.starts_at.astimezone(ZoneInfo("UTC")))
    event.add("dtend", meeting.ends_at.astimezone(ZoneInfo("UTC")))
    event.add("summary", meeting.title)
    if meeting.description:
        event.add("description", meeting.description)
    if meeting.location:
        event.add("location", meeting.location)
        if meeting.location.startswith(("https://", "http://")):
            event.add("url", meeting.location)
    cancelled = method == "CANCEL" or meeting.is_cancelled
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    organizer = icalendar.vCalAddress(f"mailto:{_organizer_address(meeting)}")
    organizer.params["cn"] = icalendar.vText(str(meeting.organizer))
    event.add("organizer", organizer)
    for attendee in attendees:
        address = icalendar.vCalAddress(f"mailto:{attendee.email}")
        if attendee.name:
            address.params["cn"] = icalendar.vText(attendee.name)
        address.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        address.params["partstat"] = icalendar.vText(PARTSTAT[attendee.response])
        address.params["rsvp"] = icalendar.vText("TRUE")
        event.add("attendee", address, encode=0)
    return event


def _calendar(method: str = "") -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//CRM//Meetings//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    return calendar


def meeting_ics(*, meeting: Meeting, method: str = "REQUEST", attendees=None) -> bytes:
    """The iCalendar text of ``meeting`` (times in UTC) as an invitation (REQUEST) or a
    cancellation (CANCEL)."""
    calendar = _calendar(method)
    if attendees is None:
        attendees = list(meeting.attendees.all())
    calendar.add_component(_event(meeting, method=method, attendees=attendees))
    return calendar.to_ical()


# Answers -------------------------------------------------------------------------------------


def meeting_attendee_for_token(token: str) -> MeetingAttendee | None:
    if not token:
        return None
    return (
        MeetingAttendee.objects.select_related("meeting__organizer", "meeting__content_type")
        .filter(token=token)
        .first()
    )


@transaction.atomic
def meeting_respond(
    *, attendee: MeetingAttendee, response: str, via: str = "the invitation link"
) -> bool:
    """Record an attendee's answer; the organizer is notified and the record's timeline gets a
    line. Returns False when it changes nothing (the same answer again, or a cancelled
    meeting)."""
    if response not in AttendeeResponse.values or response == AttendeeResponse.NEEDS_ACTION:
        raise ValidationError("Answer accept, maybe or decline.")
    lock_rows(MeetingAttendee, attendee.pk)
    current = MeetingAttendee.objects.select_related("meeting__organizer").get(pk=attendee.pk)
    meeting = current.meeting
    if meeting.is_cancelled or current.response == response:
        return False
    current.response = response
    current.responded_at = timezone.now()
    current.save(update_fields=["response", "responded_at"])
    verb = f"{current.label} answered “{current.get_response_display()}” to {meeting.title}"
    if meeting.subject is not None:
        system_event(subject=meeting.subject, summary=f"{verb} ({meeting_when(meeting)})")
    notify(
        recipient=meeting.organizer,
        kind=RESPONSE_NOTIFICATION,
        verb=verb,
        dedupe_key=f"meeting:{meeting.pk}:answer:{current.pk}:{current.responded_at.isoformat()}",
        target=meeting,
    )
    attendee.response, attendee.responded_at = current.response, current.responded_at
    logger.info("Meeting %s: %s answered %s via %s", meeting.pk, current.pk, response, via)
    return True


def _calendar_parts(message: email.message.Message):
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            if payload:
                yield payload


def meeting_reply_from_email(*, message: email.message.Message, mailbox=None) -> bool:
    """Read an attendee's calendar app's answer (a text/calendar METHOD:REPLY part of a mail
    the organizer received) and record it: the event's UID names the meeting, the ATTENDEE's
    address the attendee, PARTSTAT the answer. Idempotent; a reply to an older revision of the
    meeting (a lower SEQUENCE), to an unknown meeting or from someone not invited is ignored.
    Returns whether an answer was recorded. ``mailbox``: the mailbox it came to (unused: the
    UID alone names the meeting, whoever's mailbox the reply reached)."""
    recorded = False
    for payload in _calendar_parts(message):
        try:
            calendar = icalendar.Calendar.from_ical(payload)
        except ValueError:
            logger.info("A calendar part that does not parse was ignored")
            continue
        if str(calendar.get("method", "")).upper() != "REPLY":
            continue
        for event in calendar.walk("VEVENT"):
            recorded = _apply_reply(event) or recorded
    return recorded


def _apply_reply(event) -> bool:
    uid = str(event.get("uid", ""))
    meeting = Meeting.objects.filter(uid=uid).first() if uid else None
    if meeting is None:
        return False
    sequence = int(event.get("sequence", 0) or 0)
    if sequence < meeting.sequence:
        return False  # an answer to a time or place that has changed since
    attendees = event.get("attendee") or []
    if not isinstance(attendees, list):
        attendees = [attendees]
    recorded = False
    for address in attendees:
        email_address = str(address).removeprefix("mailto:").removeprefix("MAILTO:").lower()
        response = RESPONSE_OF_PARTSTAT.get(str(address.params.get("PARTSTAT", "")).upper())
        if response is None or response == AttendeeResponse.NEEDS_ACTION:
            continue
        attendee = meeting.attendees.filter(email=email_address.strip()).first()
        if attendee is None:
            continue
        recorded = (
            meeting_respond(attendee=attendee, response=response, via="their calendar") or recorded
        )
    return recorded


# The calendar feed -----------------------------------------------------------------------------


def calendar_feed_for(*, user: User) -> CalendarFeed:
    feed, _ = CalendarFeed.objects.get_or_create(user=user)
    return feed


@transaction.atomic
def calendar_feed_regenerate(*, user: User) -> CalendarFeed:
    """A new private address for the user's feed; the old one stops answering."""
    from crm.models.meetings import new_token

    feed = calendar_feed_for(user=user)
    feed.token = new_token()
    feed.save(update_fields=["token"])
    return feed


def calendar_feed_url(feed: CalendarFeed) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("calendar_feed", args=[feed.token])


def calendar_feed_ics(*, feed: CalendarFeed, now=None) -> bytes:
    """The feed's calendar: the user's meetings (organised or invited to) from
    ``FEED_DAYS_BACK`` days ago to ``FEED_DAYS_AHEAD`` days ahead, cancelled ones marked so."""
    now = now or timezone.now()
    meetings = (
        Meeting.objects.involving(feed.user)
        .filter(
            starts_at__gte=now - timedelta(days=FEED_DAYS_BACK),
            starts_at__lte=now + timedelta(days=FEED_DAYS_AHEAD),
        )
        .select_related("organizer")
        .prefetch_related("attendees")
        .order_by("starts_at", "id")
    )
    calendar = _calendar()
    calendar.add("x-wr-calname", f"CRM meetings of {feed.user}")
    for meeting in meetings:
        method = "CANCEL" if meeting.is_cancelled else "PUBLISH"
        calendar.add_component(
            _event(meeting, method=method, attendees=list(meeting.attendees.all()))
        )
    return calendar.to_ical()
