"""Meetings: scheduling from a record, "My meetings", a meeting's page, the attendees' answer
page (no login, the link in their invitation), and the user's calendar feed."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import registry
from crm.choices import AttendeeResponse
from crm.filtersets import MeetingFilterSet
from crm.forms import MeetingForm
from crm.models import CalendarFeed, Contact
from crm.selectors import meeting_get, meetings_of_user, record_get, scoped
from crm.services import meetings as meeting_services
from crm.services.meetings import Invitee
from crm.views.lists import Column, FilteredListView
from crm.views.submissions import submitted_once


class MeetingListView(FilteredListView):
    """The user's meetings (organised or invited to), upcoming first."""

    filterset_class = MeetingFilterSet
    title = "My meetings"
    empty_noun = "meetings"
    empty_text = "No meetings here. Schedule one from a contact, account, lead or deal."
    row_template = "crm/rows/meeting.html"
    template_name = "crm/meetings/list.html"
    saved_views_enabled = False
    columns = [
        Column("When", sort="start"),
        Column("Meeting", sort="title"),
        Column("About"),
        Column("Organizer"),
        Column("Guests"),
    ]
    sorts = {"start": ("starts_at", "id"), "title": ("title", "id")}
    default_sort = "start"

    @staticmethod
    def list_selector(*, user):
        return meetings_of_user(user=user)

    def base_queryset(self):
        return (
            super()
            .base_queryset()
            .select_related("organizer")
            .prefetch_related("subject", "attendees")
        )

    def get_queryset(self):
        queryset = super().get_queryset()
        if not self.request.GET.get("when"):
            queryset = queryset.upcoming()
        return queryset


def _subject(request, label: str, pk: int):
    """The record a meeting is scheduled from, if it is a kind meetings are about and the user
    may see it; 404 otherwise."""
    subject = registry.meeting_subjects.get(label)
    if subject is None:
        raise Http404
    return subject, record_get(scoped(subject.model, user=request.user), pk)


def _offered(subject_kind, obj) -> list[tuple[str, str, Contact | None]]:
    return [
        (email.strip().lower(), name, contact)
        for email, name, contact in subject_kind.invitees(obj)
        if email
    ]


def _invitees(form, offered) -> list[Invitee]:
    """Whom the form invites: the record's people ticked, the typed addresses (linked to their
    contact when one has the address) and the colleagues picked."""
    by_email = {email: (name, contact) for email, name, contact in offered}
    invitees = [
        Invitee(email, *by_email.get(email, ("", None))) for email in form.cleaned_data["invitees"]
    ]
    extra = form.cleaned_data["extra_emails"]
    contacts = {c.email.lower(): c for c in Contact.objects.filter(email__in=extra).order_by("-id")}
    for email in extra:
        contact = contacts.get(email)
        invitees.append(Invitee(email, contact.full_name if contact else "", contact))
    for user in form.cleaned_data["users"]:
        invitees.append(Invitee(user.email, str(user), None, user))
    return invitees


def _choices(offered):
    return [(email, f"{name} <{email}>" if name else email) for email, name, _ in offered]


@login_required
@require_http_methods(["GET", "POST"])
@submitted_once
def meeting_create(request, label, pk):
    subject_kind, obj = _subject(request, label, pk)
    offered = _offered(subject_kind, obj)
    initial = {
        "title": f"Meeting with {obj}",
        "invitees": [email for email, _, _ in offered],
        "starts_at": _next_half_hour(),
    }
    form = MeetingForm(
        request.POST or None, offered=_choices(offered), initial=initial, organizer=request.user
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            meeting = meeting_services.meeting_schedule(
                organizer=request.user,
                created_by=request.user,
                subject=obj,
                title=data["title"],
                starts_at=data["starts_at"],
                ends_at=data["starts_at"] + timedelta(minutes=data["duration"]),
                location=data["location"],
                description=data["description"],
                invitees=_invitees(form, offered),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            guests = meeting.attendees.count()
            messages.success(
                request,
                f"{meeting.title} is scheduled; "
                f"{guests} invitation{'s' if guests != 1 else ''} on the way.",
            )
            return HttpResponseRedirect(obj.get_absolute_url())
    return render(
        request, "crm/meetings/form.html", {"form": form, "subject": obj, "meeting": None}
    )


def _next_half_hour():
    now = timezone.localtime() + timedelta(hours=1)
    return now.replace(minute=0 if now.minute < 30 else 30, second=0, microsecond=0)


@login_required
@require_http_methods(["GET", "POST"])
@submitted_once
def meeting_edit(request, pk):
    meeting = meeting_get(user=request.user, pk=pk, for_change=True)
    if meeting.is_cancelled:
        raise Http404
    attendees = list(meeting.attendees.select_related("contact"))
    guests = [(a.email, a.name, a.contact) for a in attendees if a.user_id is None]
    subject_kind = (
        registry.meeting_subjects.for_model(meeting.content_type.model_class())
        if meeting.content_type_id
        else None
    )
    offered = list(guests)
    if subject_kind is not None and meeting.subject is not None:
        known = {email for email, _, _ in offered}
        offered += [o for o in _offered(subject_kind, meeting.subject) if o[0] not in known]
    initial = {
        "title": meeting.title,
        "starts_at": timezone.localtime(meeting.starts_at),
        "duration": meeting.duration_minutes,
        "location": meeting.location,
        "description": meeting.description,
        "invitees": [email for email, _, _ in guests],
        "users": [a.user_id for a in attendees if a.user_id],
    }
    form = MeetingForm(
        request.POST or None,
        offered=_choices(offered),
        initial=initial,
        organizer=meeting.organizer,
    )
    form.instance_starts_at = meeting.starts_at
    if meeting.duration_minutes not in dict(form.fields["duration"].choices):
        form.fields["duration"].choices += [
            (meeting.duration_minutes, f"{meeting.duration_minutes} minutes")
        ]
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            meeting = meeting_services.meeting_update(
                meeting=meeting,
                user=request.user,
                title=data["title"],
                starts_at=data["starts_at"],
                ends_at=data["starts_at"] + timedelta(minutes=data["duration"]),
                location=data["location"],
                description=data["description"],
                invitees=_invitees(form, offered),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{meeting.title} was saved; attendees get the update.")
            return HttpResponseRedirect(meeting.get_absolute_url())
    return render(
        request,
        "crm/meetings/form.html",
        {"form": form, "subject": meeting.subject, "meeting": meeting},
    )


@login_required
@require_POST
@submitted_once
def meeting_cancel(request, pk):
    meeting = meeting_get(user=request.user, pk=pk, for_change=True)
    meeting_services.meeting_cancel(meeting=meeting, user=request.user)
    messages.success(request, f"{meeting.title} was cancelled; attendees are told.")
    return HttpResponseRedirect(meeting.get_absolute_url())


@login_required
@require_GET
def meeting_detail(request, pk):
    meeting = meeting_get(user=request.user, pk=pk)
    can_change = scoped(type(meeting), user=request.user, for_change=True).filter(pk=pk).exists()
    return render(
        request,
        "crm/meetings/detail.html",
        {
            "meeting": meeting,
            "when": meeting_services.meeting_when(meeting),
            "attendees": list(meeting.attendees.select_related("contact", "user")),
            "subject": meeting.subject,
            "can_change": can_change,
        },
    )


# The attendee's answer page (no login) -------------------------------------------------------

ANSWERS = [
    (AttendeeResponse.ACCEPTED, "Accept"),
    (AttendeeResponse.TENTATIVE, "Maybe"),
    (AttendeeResponse.DECLINED, "Decline"),
]


@require_http_methods(["GET", "POST"])
def meeting_answer(request, token):
    """The page an invitation's Accept / Maybe / Decline links open: it shows the meeting and
    asks to confirm (a GET changes nothing, so a mail scanner opening links answers nothing)."""
    attendee = meeting_services.meeting_attendee_for_token(token)
    if attendee is None:
        raise Http404
    meeting = attendee.meeting
    answered = False
    if request.method == "POST" and not meeting.is_cancelled:
        response = request.POST.get("response", "")
        if response not in dict(ANSWERS):
            return render(
                request,
                "crm/meetings/answer.html",
                _answer_context(attendee, error="Pick an answer."),
                status=400,
            )
        meeting_services.meeting_respond(attendee=attendee, response=response)
        answered = True
    return render(request, "crm/meetings/answer.html", _answer_context(attendee, answered=answered))


def _answer_context(attendee, *, answered=False, error=""):
    meeting = attendee.meeting
    return {
        "attendee": attendee,
        "meeting": meeting,
        "when": meeting_services.meeting_when(meeting),
        "answers": ANSWERS,
        "answered": answered,
        "error": error,
    }


# The calendar feed -------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@submitted_once
def calendar_settings(request):
    """The address of the user's calendar feed, to paste in any calendar app, and a button that
    replaces it (the old one stops working)."""
    if request.method == "POST":
        meeting_services.calendar_feed_regenerate(user=request.user)
        messages.success(request, "Your calendar has a new address; the old one stops working.")
        return HttpResponseRedirect(request.path)
    feed = meeting_services.calendar_feed_for(user=request.user)
    return render(
        request,
        "crm/meetings/calendar_settings.html",
        {"feed_url": meeting_services.calendar_feed_url(feed)},
    )


@require_GET
def calendar_feed(request, token):
    """A user's meetings as an iCalendar feed; the token in the address is the only key."""
    feed = CalendarFeed.objects.select_related("user").filter(token=token).first()
    if feed is None or not feed.user.is_active:
        raise Http404
    response = HttpResponse(
        meeting_services.calendar_feed_ics(feed=feed), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="meetings.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response
