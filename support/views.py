"""Support desk pages: ticket lists and queues, the ticket page with its thread and actions,
creating tickets; public pages: the request form, the inbound email webhook, CSAT surveys."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.generic import FormView

from crm.machine import shared_secret, token_endpoint
from crm.permissions import may_manage, may_work_tickets
from crm.views.lists import Column, FilteredListView
from crm.views.records import RecordDeleteView, RecordFormView, timeline_context
from support import selectors, tables
from support.choices import TicketStatus
from support.filtersets import CannedReplyFilterSet, TicketFilterSet
from support.forms import (
    AssignForm,
    BulkForm,
    CannedReplyForm,
    CsatForm,
    MergeForm,
    NoteForm,
    PriorityForm,
    PublicTicketForm,
    QueueAssignmentForm,
    ReplyForm,
    StatusForm,
    TicketCreateForm,
)
from support.models import Attachment, CannedReply, CsatSurvey, Queue, QueueAgent, Ticket
from support.services import clock, inbound
from support.services import tickets as ticket_services
from support.services.canned import (
    canned_render,
    canned_reply_create,
    canned_reply_delete,
    canned_reply_update,
)
from support.services.csat import csat_answer
from support.services.queues import queue_agent_set_shift, queue_set_assignment

# Lists ---------------------------------------------------------------------------------------


class TicketListView(FilteredListView):
    """Every visible ticket; the queue views below narrow it and sort by SLA due."""

    filterset_class = TicketFilterSet
    title = "Tickets"
    template_name = "support/ticket_list.html"
    partial_template_name = "support/_ticket_table.html"
    row_template = "support/rows/ticket.html"
    create_url_name = "support:ticket_create"
    view_name = "all"
    columns = [
        Column("", css="w-1"),
        Column("Ticket", sort="reference"),
        Column("Subject"),
        Column("Status"),
        Column("Priority", sort="priority"),
        Column("Queue"),
        Column("Assignee"),
        Column("SLA due", sort="due"),
        Column("Created", sort="created"),
        Column("Updated", sort="updated"),
    ]
    sorts = {
        "reference": ("id",),
        "priority": ("priority", "id"),
        "due": ("sla_due_at", "id"),
        "created": ("created_at", "id"),
        "updated": ("updated_at", "id"),
    }
    default_sort = "-created"

    def base_queryset(self):
        return selectors.ticket_list(user=self.request.user)

    def can_create(self):
        return may_work_tickets(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        may_bulk = may_work_tickets(self.request.user)
        selectors.attach_countdowns(context["object_list"])
        tables.ticket_rows(context["object_list"], may_bulk=may_bulk)
        context.update(
            view_name=self.view_name,
            may_bulk=may_bulk,
            bulk_form=BulkForm(),
            queue_views=QUEUE_VIEWS,
        )
        return context


class MyQueueView(TicketListView):
    title = "My queue"
    view_name = "mine"
    default_sort = "due"

    def base_queryset(self):
        return super().base_queryset().active().filter(assignee=self.request.user)


class UnassignedView(TicketListView):
    title = "Unassigned"
    view_name = "unassigned"
    default_sort = "due"

    def base_queryset(self):
        return super().base_queryset().active().filter(assignee__isnull=True)


class BreachingView(TicketListView):
    title = "Breaching"
    view_name = "breaching"
    default_sort = "due"

    def base_queryset(self):
        return super().base_queryset().active().filter(sla_due_at__lt=timezone.now())


class PendingView(TicketListView):
    title = "Pending customer"
    view_name = "pending"
    default_sort = "-updated"

    def base_queryset(self):
        return super().base_queryset().filter(status=TicketStatus.PENDING)


QUEUE_VIEWS = [
    ("mine", "My queue", "support:my_queue"),
    ("unassigned", "Unassigned", "support:unassigned"),
    ("breaching", "Breaching", "support:breaching"),
    ("pending", "Pending", "support:pending"),
    ("all", "All tickets", "support:ticket_list"),
]


@login_required
@require_POST
def ticket_bulk(request):
    """Assign, unassign, set status or priority of the ticked tickets."""
    if not may_work_tickets(request.user):
        raise Http404
    form = BulkForm(request.POST)
    back = request.POST.get("next") or reverse("support:ticket_list")
    if not back.startswith("/"):
        back = reverse("support:ticket_list")
    if not form.is_valid():
        messages.error(request, "Nothing was changed: " + form.errors.as_text())
        return HttpResponseRedirect(back)
    data = form.cleaned_data
    action = data["action"]
    result = ticket_services.ticket_bulk_update(
        user=request.user,
        ticket_ids=data["tickets"],
        assignee=data["assignee"] if action == "assign" else None,
        unassign=action == "unassign",
        status=data["status"] if action == "status" else None,
        priority=data["priority"] if action == "priority" else None,
    )
    messages.success(request, f"{result['changed']} ticket(s) changed.")
    for error in result["errors"][:10]:
        messages.error(request, error)
    return HttpResponseRedirect(back)


# The ticket page -----------------------------------------------------------------------------


def _ticket_for(request, pk, *, change=False) -> Ticket:
    scope = (
        Ticket.objects.changeable_by(request.user)
        if change
        else Ticket.objects.visible_to(request.user)
    )
    return get_object_or_404(
        scope.select_related(
            "account",
            "contact",
            "queue",
            "assignee",
            "sla_policy__calendar",
            "merged_into",
            "csat",
        ).prefetch_related("sla_policy__calendar__hours", "sla_policy__calendar__holidays", "tags"),
        pk=pk,
    )


def _detail(request, ticket: Ticket, *, status=200, **forms):
    can_change = Ticket.objects.changeable_by(request.user).filter(pk=ticket.pk).exists()
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
                CannedReply.objects.filter(is_active=True).order_by("title").values("pk", "title")
            ),
        )
    return render(request, "support/ticket_detail.html", context, status=status)


def _has_csat(ticket) -> bool:
    try:
        return ticket.csat is not None
    except CsatSurvey.DoesNotExist:
        return False


@login_required
@require_GET
def ticket_detail(request, pk):
    return _detail(request, _ticket_for(request, pk))


def _back(ticket):
    return HttpResponseRedirect(ticket.get_absolute_url())


@login_required
@require_POST
def ticket_reply(request, pk):
    ticket = _ticket_for(request, pk, change=True)
    form = ReplyForm(request.POST, request.FILES, ticket=ticket)
    if form.is_valid():
        try:
            ticket_services.ticket_reply(
                ticket=ticket,
                user=request.user,
                body=form.cleaned_data["body"],
                files=form.cleaned_data["files"],
                status=form.cleaned_data["status"] or None,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Reply sent.")
            return _back(ticket)
    return _detail(request, ticket, reply_form=form)


@login_required
@require_POST
def ticket_note(request, pk):
    ticket = _ticket_for(request, pk, change=True)
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
@require_POST
def ticket_status(request, pk):
    ticket = _ticket_for(request, pk, change=True)
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
def ticket_assign(request, pk):
    ticket = _ticket_for(request, pk, change=True)
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
def ticket_priority(request, pk):
    ticket = _ticket_for(request, pk, change=True)
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
def ticket_merge(request, pk):
    ticket = _ticket_for(request, pk, change=True)
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
@require_GET
def canned_preview(request, pk):
    """The reply box filled with a canned reply's text for this ticket (HTMX swaps it in)."""
    ticket = _ticket_for(request, pk, change=True)
    canned_id = request.GET.get("canned", "")
    body = request.GET.get("body", "")
    if canned_id.isdigit():
        canned = get_object_or_404(CannedReply.objects.filter(is_active=True), pk=canned_id)
        body = canned_render(body=canned.body, ticket=ticket, agent=request.user)
    return render(request, "support/_reply_body.html", {"body": body})


@login_required
@require_GET
def attachment_download(request, pk):
    attachment = get_object_or_404(
        Attachment.objects.filter(ticket__in=Ticket.objects.visible_to(request.user)), pk=pk
    )
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=not attachment.content_type.startswith("image/"),
        filename=attachment.filename,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


class TicketCreateView(FormView):
    template_name = "support/ticket_form.html"
    form_class = TicketCreateForm

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return HttpResponseRedirect(f"{reverse('login')}?next={request.path}")
        if not may_work_tickets(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        return kwargs

    def get_initial(self):
        initial = super().get_initial()
        for name in ("account", "contact"):
            value = self.request.GET.get(name, "")
            if value.isdigit():
                initial[name] = value
        return initial

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            ticket = ticket_services.ticket_create(
                subject=data["subject"],
                description=data["description"],
                account=data["account"],
                contact=data["contact"],
                channel=data["channel"],
                priority=data["priority"],
                category=data["category"],
                queue=data["queue"],
                assignee=data["assignee"],
                user=self.request.user,
                files=data["files"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        if data["tag_names"]:
            ticket_services.ticket_set_tags(
                ticket=ticket, names=data["tag_names"], user=self.request.user
            )
        messages.success(self.request, f"{ticket.reference} was created.")
        return HttpResponseRedirect(ticket.get_absolute_url())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            verbose_name="ticket",
            cancel_url=reverse("support:ticket_list"),
            multipart=True,
        )
        return context


# Canned replies ------------------------------------------------------------------------------


class CannedReplyListView(FilteredListView):
    """The desk's saved answers: agents read them, managers and admins write them."""

    filterset_class = CannedReplyFilterSet
    title = "Canned replies"
    row_template = "support/rows/canned_reply.html"
    create_url_name = "support:canned_create"
    columns = [Column("Title", sort="title"), Column("Text"), Column("Offered")]
    sorts = {"title": ("title", "id")}
    default_sort = "title"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not may_work_tickets(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def base_queryset(self):
        return CannedReply.objects.visible_to(self.request.user)

    def can_create(self):
        return may_manage(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["may_change"] = self.can_create()
        return context


class CannedReplyFormView(RecordFormView):
    model = CannedReply
    form_class = CannedReplyForm
    create_service = staticmethod(canned_reply_create)
    update_service = staticmethod(canned_reply_update)
    object_name = "canned"

    def may_create(self, user) -> bool:
        return may_manage(user)

    def form_valid(self, form):
        response = super().form_valid(form)
        if response.status_code == 302:
            return HttpResponseRedirect(reverse("support:canned_list"))
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cancel_url"] = reverse("support:canned_list")
        return context


class CannedReplyDeleteView(RecordDeleteView):
    model = CannedReply
    delete_service = staticmethod(canned_reply_delete)
    template_name = "support/canned_confirm_delete.html"
    object_name = "canned"
    success_url_name = "support:canned_list"


# Queues and shifts ---------------------------------------------------------------------------


def _queues_page(request, *, status=200, forms=None):
    queues = list(
        Queue.objects.visible_to(request.user)
        .select_related("team")
        .prefetch_related(Prefetch("agents", QueueAgent.objects.select_related("user")))
        .order_by("name")
    )
    may_change = may_manage(request.user)
    forms = forms or {}
    for queue in queues:
        queue.form = forms.get(queue.pk) or (
            QueueAssignmentForm(
                queue=queue,
                initial={
                    "assignment_mode": queue.assignment_mode,
                    "on_shift": [m.user_id for m in queue.agents.all() if m.on_shift],
                },
            )
            if may_change
            else None
        )
        queue.my_membership = next(
            (m for m in queue.agents.all() if m.user_id == request.user.pk), None
        )
    return render(
        request,
        "support/queues.html",
        {"queues": queues, "may_change": may_change},
        status=status,
    )


@login_required
@require_GET
def queue_list(request):
    """The desk's queues: their rule and who is on shift; agents go on or off shift here."""
    if not may_work_tickets(request.user):
        raise Http404
    return _queues_page(request)


@login_required
@require_POST
def queue_assignment(request, pk):
    queue = get_object_or_404(Queue.objects.changeable_by(request.user), pk=pk)
    form = QueueAssignmentForm(request.POST, queue=queue)
    if not form.is_valid():
        return _queues_page(request, status=400, forms={queue.pk: form})
    queue_set_assignment(
        queue=queue,
        user=request.user,
        assignment_mode=form.cleaned_data["assignment_mode"],
        on_shift_user_ids=form.cleaned_data["on_shift"],
    )
    messages.success(request, f"{queue} was saved.")
    return HttpResponseRedirect(reverse("support:queue_list"))


@login_required
@require_POST
def queue_shift(request, pk):
    """The signed-in agent goes on (``on_shift=1``) or off shift in one of their queues."""
    membership = get_object_or_404(
        QueueAgent.objects.select_related("queue"), queue_id=pk, user=request.user
    )
    on_shift = request.POST.get("on_shift") == "1"
    queue_agent_set_shift(membership=membership, user=request.user, on_shift=on_shift)
    messages.success(request, f"You are {'on' if on_shift else 'off'} shift in {membership.queue}.")
    return HttpResponseRedirect(reverse("support:queue_list"))


# Public pages --------------------------------------------------------------------------------


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _rate_limited(request) -> bool:
    """At most SUPPORT_PUBLIC_FORM_RATE submissions per IP address and hour."""
    limit = getattr(settings, "SUPPORT_PUBLIC_FORM_RATE", 5)
    key = f"support:public-form:{_client_ip(request)}"
    cache.add(key, 0, timeout=3600)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=3600)
        count = 1
    return count > limit


@require_http_methods(["GET", "POST"])
def public_ticket_new(request):
    """``/support/new/``: customers open a ticket without logging in."""
    if request.method == "GET":
        return render(request, "support/public_new.html", {"form": PublicTicketForm()})
    form = PublicTicketForm(request.POST, request.FILES)
    if _rate_limited(request):
        return render(
            request,
            "support/public_new.html",
            {"form": form, "rate_limited": True},
            status=429,
        )
    if not form.is_valid():
        return render(request, "support/public_new.html", {"form": form}, status=400)
    data = form.cleaned_data
    if data["website"]:
        # A bot filled the hidden field: answer as if all went well, and do nothing.
        return HttpResponseRedirect(reverse("support:public_thanks"))
    try:
        ticket = inbound.public_ticket_submit(
            name=data["name"],
            email_address=data["email"],
            subject=data["subject"],
            description=data["description"],
            files=data["files"],
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return render(request, "support/public_new.html", {"form": form}, status=400)
    request.session["support_reference"] = ticket.reference
    return HttpResponseRedirect(reverse("support:public_thanks"))


@require_GET
def public_thanks(request):
    return render(
        request,
        "support/survey_message.html",
        {
            "title": "Thank you — we received your request",
            "text": (
                f"Your reference is {request.session.get('support_reference')}. "
                if request.session.get("support_reference")
                else ""
            )
            + "We have sent you a confirmation by email and will answer as soon as we can.",
        },
    )


@token_endpoint(check=shared_secret("SUPPORT_INBOUND_TOKEN"), header="X-Support-Token")
def inbound_email_webhook(request, authorised):
    """A raw RFC 822 message (the request body) from the mail provider; authenticated by the
    shared token in ``X-Support-Token`` or ``Authorization: Bearer``."""
    try:
        result = inbound.inbound_email_process(raw=request.body)
    except inbound.InboundError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {
            "ticket": result.ticket.reference,
            "created": result.created,
            "duplicate": result.duplicate,
            "rejected_attachments": list(result.rejected_files),
        },
        status=201 if result.created else 200,
    )


def csat_survey(request, key: str):
    """The CSAT page behind ``/surveys/<token>/`` (registered as kind "csat")."""
    survey = CsatSurvey.objects.filter(token=key).select_related("ticket").first()
    if survey is None:
        return render(
            request,
            "support/survey_message.html",
            {"title": "This survey link is not valid", "text": ""},
            status=400,
        )
    done = {
        "title": "Thank you for your feedback!",
        "text": "Your answer has been recorded.",
    }
    if survey.answered_at is not None:
        return render(request, "support/survey_message.html", done)
    if request.method == "POST":
        form = CsatForm(request.POST)
        if form.is_valid():
            csat_answer(
                survey=survey,
                rating=form.cleaned_data["rating"],
                comment=form.cleaned_data["comment"],
            )
            return render(request, "support/survey_message.html", done)
        status = 400
    else:
        rating = request.GET.get("rating", "")
        form = CsatForm(initial={"rating": int(rating)} if rating in "12345" and rating else None)
        status = 200
    return render(
        request, "support/csat.html", {"form": form, "ticket": survey.ticket}, status=status
    )
