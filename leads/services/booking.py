"""Booking pages: a seller's free times, and a visitor booking one.

Free slots are the seller's working hours (in the page's time zone) cut into meetings of the
page's length, minus what is too soon (the minimum notice) and minus every slot that comes
within the buffer of a meeting the seller organises or attends. Booking re-checks the slot
with the seller's booking page row locked, so two visitors taking the same slot at once are
served one after the other: the first gets the meeting, the second is told it was just taken.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from crm.choices import ActivityKind
from crm.models import ConsentChannel, Contact, Meeting, User
from crm.normalize import normalize_email
from crm.services.consents import ConsentProof
from crm.services.meetings import Invitee, meeting_schedule
from crm.services.notifications import notify
from crm.services.timeline import activity_log
from leads.booking.models import BookingPage
from leads.choices import LeadSource
from leads.models import DEFAULT_CONSENT_WORDING
from leads.services.web_forms import public_form_lead

#: The notification kind the seller gets for a booked meeting.
BOOKED_NOTIFICATION = "meeting_booked"


class SlotTaken(Exception):
    """The slot is no longer free (someone booked it meanwhile, or it is too soon now)."""


@dataclass(frozen=True)
class BookingDay:
    day: date
    slots: list[datetime]  # aware, in the page's time zone


def booking_zone(page: BookingPage):
    try:
        return ZoneInfo(page.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def booking_page_for(*, user: User) -> BookingPage:
    """The user's booking page settings (made, switched off, on first use)."""
    page = BookingPage.objects.filter(user=user).first()
    if page is not None:
        return page
    base = slugify(user.get_full_name() or user.username)[:50] or f"seller-{user.pk}"
    slug, n = base, 1
    while BookingPage.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    page, _ = BookingPage.objects.get_or_create(
        user=user, defaults={"slug": slug, "time_zone": timezone.get_current_timezone_name()}
    )
    return page


def booking_page_update(*, page: BookingPage, **data) -> BookingPage:
    changed = [name for name, value in data.items() if getattr(page, name) != value]
    for name in changed:
        setattr(page, name, data[name])
    page.full_clean()
    if changed:
        page.save(update_fields=[*changed, "updated_at"])
    return page


def _busy(page: BookingPage, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The seller's meetings between ``start`` and ``end``, each widened by the buffer."""
    buffer = timedelta(minutes=page.buffer_minutes)
    rows = (
        Meeting.objects.involving(page.user)
        .scheduled()
        .filter(starts_at__lt=end + buffer, ends_at__gt=start - buffer)
        .values_list("starts_at", "ends_at")
    )
    return [(s - buffer, e + buffer) for s, e in rows]


def _free(slot_start: datetime, slot_end: datetime, busy) -> bool:
    return all(slot_end <= b_start or slot_start >= b_end for b_start, b_end in busy)


def _candidate_slots(page: BookingPage, day: date) -> list[datetime]:
    hours = page.working_hours[day.weekday()] if page.working_hours else []
    if not hours:
        return []
    zone = booking_zone(page)
    start = datetime.combine(day, time.fromisoformat(hours[0]), tzinfo=zone)
    end = datetime.combine(day, time.fromisoformat(hours[1]), tzinfo=zone)
    length = timedelta(minutes=page.meeting_minutes)
    slots, slot = [], start
    while slot + length <= end:
        slots.append(slot)
        slot += length
    return slots


def booking_slots(*, page: BookingPage, now: datetime | None = None) -> list[BookingDay]:
    """The free slots of the next ``days_ahead`` days, day by day (days without any left
    out)."""
    now = now or timezone.now()
    zone = booking_zone(page)
    first = now.astimezone(zone).date()
    days = [first + timedelta(days=n) for n in range(page.days_ahead)]
    earliest = now + timedelta(hours=page.notice_hours)
    length = timedelta(minutes=page.meeting_minutes)
    window_start = datetime.combine(first, time.min, tzinfo=zone)
    busy = _busy(page, window_start, window_start + timedelta(days=page.days_ahead + 1))
    result = []
    for day in days:
        slots = [
            slot
            for slot in _candidate_slots(page, day)
            if slot >= earliest and _free(slot, slot + length, busy)
        ]
        if slots:
            result.append(BookingDay(day, slots))
    return result


def booking_slot_free(*, page: BookingPage, starts_at: datetime, now=None) -> bool:
    """Whether ``starts_at`` is one of the page's free slots now."""
    now = now or timezone.now()
    zone = booking_zone(page)
    local = starts_at.astimezone(zone)
    if local.date() > now.astimezone(zone).date() + timedelta(days=page.days_ahead - 1):
        return False
    if starts_at < now + timedelta(hours=page.notice_hours):
        return False
    if local not in _candidate_slots(page, local.date()):
        return False
    end = starts_at + timedelta(minutes=page.meeting_minutes)
    return _free(starts_at, end, _busy(page, starts_at, end))


def booking_proof(*, page: BookingPage, ip: str | None) -> ConsentProof:
    return ConsentProof(
        channel=ConsentChannel.WEB_FORM,
        name=f"Booking page /book/{page.slug}/",
        ip=ip,
        wording=DEFAULT_CONSENT_WORDING,
    )


def booking_book(
    *,
    page: BookingPage,
    starts_at: datetime,
    name: str,
    email: str,
    company: str = "",
    note: str = "",
    consent: bool = False,
    ip: str | None = None,
) -> Meeting:
    """Book ``starts_at`` on the seller's page for a visitor: the meeting (the visitor invited,
    an invitation emailed), about the visitor's contact when their address is a contact's,
    else about their lead (a new one through the web form's intake, assigned to the seller, or
    the lead they already are). The seller is notified. Raises ``SlotTaken`` when the slot is
    not free (any more), ``ValidationError`` when the page is off or the address cannot book."""
    email = normalize_email(email)
    with transaction.atomic():
        # One booking per seller at a time: the second visitor for a slot waits here, then sees
        # the first one's meeting below.
        page = BookingPage.objects.select_for_update().select_related("user").get(pk=page.pk)
        if not page.enabled or not page.user.is_active:
            raise ValidationError("This booking page is closed.")
        if not booking_slot_free(page=page, starts_at=starts_at):
            raise SlotTaken
        contact = Contact.objects.filter(email=email).order_by("id").first()  # stored lower case
        if contact is not None:
            subject = contact
            guest_name = name or contact.full_name
        else:
            first, _, last = name.strip().rpartition(" ")
            lead, _created = public_form_lead(
                data={
                    "first_name": first,
                    "last_name": last or name.strip(),
                    "email": email,
                    "company_name": company,
                    "message": note,
                    "consent": consent,
                },
                source=LeadSource.WEB_FORM,
                consent_proof=booking_proof(page=page, ip=ip),
                owner=page.user,
            )
            if lead is None:
                raise ValidationError("This address cannot book a meeting.")
            subject = lead
            guest_name = name
        meeting = meeting_schedule(
            organizer=page.user,
            created_by=None,
            subject=subject,
            title=f"{page.title} with {guest_name}"[:200],
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=page.meeting_minutes),
            location=page.location,
            description=note,
            time_zone=page.time_zone,
            invitees=[Invitee(email, guest_name, contact)],
        )
        if note:
            activity_log(
                subject=subject,
                kind=ActivityKind.NOTE,
                summary=f"Booked a meeting on {page.user}'s booking page",
                body=note,
            )
        notify(
            recipient=page.user,
            kind=BOOKED_NOTIFICATION,
            verb=f"{guest_name} booked {meeting.title}",
            dedupe_key=f"meeting:{meeting.pk}:booked",
            target=meeting,
        )
    return meeting
