"""The ticket page: its thread, SLA and timeline, and its actions (reply, note, status,
assignment, priority, merge and its undo, a canned reply's preview), and downloading its
attachments."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.views.records import RecordDeleteView, timeline_context
from crm.views.submissions import submitted_once
from support import selectors
from support.forms import (
    AssignForm,
    MergeForm,
    NoteForm,
    PriorityForm,
    ReplyForm,
    StatusForm,
    TicketCustomFieldsForm,
)
from support.models import CsatSurvey, Ticket
from support.services import clock
from support.services import merges as merge_services
from support.services import tickets as ticket_services
from support.services.canned import canned_render


def _detail(request, ticket: Ticket, *, status=200, **forms):
    can_change = (
        selectors.ticket_list(user=request.user, for_change=True).filter(pk=ticket.pk).exists()
    )
    context = timeline_context(request, ticket)
    context.update(
        ticket=ticket,
        can_change=can_change,
        thread=selectors.ticket_thread(ticket=ticket),
        loose_attachments=selectors.ticket_loose_attachments(ticket=ticket),
        sla=clock.sla_state(ticket, now=timezone.now()),
        csat=getattr(ticket, "csat", None) if _has_csat(ticket) else None,
    )
    if can_change:
        context.update(
            reply_form=forms.get("reply_form") or ReplyForm(ticket=ticket),
            note_form=forms.get("note_form") or NoteForm(),
            status_form=StatusForm(ticket=ticket),
            assign_form=AssignForm(initial={"assignee": ticket.assignee_id}),
            priority_form=PriorityForm(initial={"priority": ticket.priority}),
            merge_form=forms.get("merge_form") or MergeForm(user=request.user, ticket=ticket),
            canned_replies=list(
                selectors.canned_replies_offered(user=request.user).values("pk", "title")
            ),
            recent_merges=selectors.ticket_recent_merges(user=request.user, ticket=ticket),
            kb_articles=list(
                selectors.agent_article_suggestions(user=request.user, query=ticket.subject)
            ),
            kb_query=ticket.subject,
            site_url=settings.SITE_URL,
        )
    return render(request, "support/ticket_detail.html", context, status=status)


def _has_csat(ticket) -> bool:
    try:
        return ticket.csat is not None
    except CsatSurvey.DoesNotExist:
        return False


def _changeable(request, pk) -> Ticket:
    return selectors.ticket_get(user=request.user, pk=pk, for_change=True)


def _back(ticket):
    return HttpResponseRedirect(ticket.get_absolute_url())


@login_required
@require_GET
def ticket_detail(request, pk):
    return _detail(request, selectors.ticket_get(user=request.user, pk=pk))


@login_required
@require_POST
def ticket_reply(request, pk):
    ticket = _changeable(request, pk)
    form = ReplyForm(request.POST, request.FILES, ticket=ticket)
    if form.is_valid():
        try:
            ticket_services.ticket_reply(
                ticket=ticket,
                user=request.user,
                body=form.cleaned_data["body"],
                files=form.cleaned_data["files"],
                status=form.cleaned_data["status"] or None,
                submission_key=form.cleaned_data["submission"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Reply sent.")
            return _back(ticket)
    return _detail(request, ticket, reply_form=form)


@login_required
@require_POST
@submitted_once
def ticket_note(request, pk):
    ticket = _changeable(request, pk)
    form = NoteForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            ticket_services.ticket_note(
                ticket=ticket,
                user=request.user,
                body=form.cleaned_data["body"],
                files=form.cleaned_data["files"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Note added.")
            return _back(ticket)
    return _detail(request, ticket, note_form=form)


def _simple_action(request, ticket, form, action):
    if form.is_valid():
        try:
            action(form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Saved.")
    else:
        messages.error(request, "Nothing was changed: " + form.errors.as_text())
    return _back(ticket)


@login_required
@require_http_methods(["GET", "POST"])
@submitted_once
def ticket_fields(request, pk):
    """Edit a ticket's custom fields (those the user may see), on their own page."""
    ticket = _changeable(request, pk)
    form = TicketCustomFieldsForm(
        request.POST if request.method == "POST" else None, ticket=ticket, user=request.user
    )
    if request.method == "POST" and form.is_valid():
        try:
            ticket_services.ticket_update_custom(
                ticket=ticket, user=request.user, custom=form.custom_values()
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Saved.")
            return _back(ticket)
    return render(request, "support/ticket_fields.html", {"ticket": ticket, "form": form})


@login_required
@require_POST
@submitted_once
def ticket_status(request, pk):
    ticket = _changeable(request, pk)
    return _simple_action(
        request,
        ticket,
        StatusForm(request.POST, ticket=ticket),
        lambda data: ticket_services.ticket_change_status(
            ticket=ticket, status=data["status"], user=request.user
        ),
    )


@login_required
@require_POST
@submitted_once
def ticket_assign(request, pk):
    ticket = _changeable(request, pk)
    return _simple_action(
        request,
        ticket,
        AssignForm(request.POST),
        lambda data: ticket_services.ticket_assign(
            ticket=ticket, assignee=data["assignee"], user=request.user
        ),
    )


@login_required
@require_POST
@submitted_once
def ticket_priority(request, pk):
    ticket = _changeable(request, pk)
    return _simple_action(
        request,
        ticket,
        PriorityForm(request.POST),
        lambda data: ticket_services.ticket_change_priority(
            ticket=ticket, priority=data["priority"], user=request.user
        ),
    )


@login_required
@require_POST
@submitted_once
def ticket_merge(request, pk):
    ticket = _changeable(request, pk)
    form = MergeForm(request.POST, user=request.user, ticket=ticket)
    if form.is_valid():
        try:
            target = ticket_services.ticket_merge(
                source=ticket, target=form.cleaned_data["target"], user=request.user
            )
        except ValidationError as exc:
            form.add_error("target", exc)
        else:
            messages.success(request, f"{ticket.reference} was merged into {target.reference}.")
            return _back(target)
    return _detail(request, ticket, merge_form=form)


@login_required
@require_http_methods(["GET", "POST"])
@submitted_once
def ticket_merge_undo(request, pk):
    """``/tickets/merges/<pk>/undo/``: what undoing the merge puts back (GET), and the undo
    (POST). 404 unless the user may change both tickets."""
    record = selectors.ticket_merge_get(user=request.user, pk=pk)
    error = ""
    if request.method == "POST":
        try:
            merge_services.ticket_merge_undo(record=record, user=request.user)
        except Ticket.DoesNotExist:
            raise Http404 from None
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(
                request,
                f"Merge undone: {record.merged.reference} is a ticket of its own again, with its "
                "messages and files.",
            )
            return _back(record.merged)
        record.refresh_from_db()
    plan = merge_services.ticket_merge_undo_plan(record=record)
    return render(
        request, "support/ticket_merge_undo.html", {"record": record, "plan": plan, "error": error}
    )


@login_required
@require_GET
def canned_preview(request, pk):
    """The reply box filled with a canned reply's text for this ticket (HTMX swaps it in)."""
    ticket = _changeable(request, pk)
    canned_id = request.GET.get("canned", "")
    body = request.GET.get("body", "")
    if canned_id.isdigit():
        canned = selectors.canned_reply_get(user=request.user, pk=canned_id)
        if not canned.is_active:
            raise Http404
        body = canned_render(body=canned.body, ticket=ticket, agent=request.user)
    return render(request, "support/_reply_body.html", {"body": body})


@login_required
@require_GET
def attachment_download(request, pk):
    """A file of a ticket the user may see (404 otherwise); images inline, the rest as
    downloads, never sniffed or run by the browser."""
    attachment = selectors.attachment_get(user=request.user, pk=pk)
    try:
        # Read from the storage (the local disk or the S3 bucket) and streamed from here, after
        # the role check: the bucket itself is never exposed to the browser.
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file of this attachment is gone.") from None
    response = FileResponse(
        handle,
        as_attachment=not attachment.content_type.startswith("image/"),
        filename=attachment.filename,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


class TicketDeleteView(RecordDeleteView):
    model = Ticket
    selector = selectors.ticket_get
    delete_service = ticket_services.ticket_delete
    object_name = "ticket"
    success_url_name = "support:ticket_list"
