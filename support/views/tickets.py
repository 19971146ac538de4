"""The ticket lists: every visible ticket and the queue views (mine, unassigned, breaching,
pending), and opening a ticket."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import FormView

from crm import catalog
from crm.permissions import may_work_tickets
from crm.views.lists import Column, FilteredListView
from crm.views.submissions import SubmittedOnceMixin
from support import filtersets, selectors, tables
from support.choices import TicketStatus
from support.filtersets import TicketFilterSet
from support.forms import BulkForm, TicketCreateForm
from support.models import SLAPolicy
from support.services import tickets as ticket_services

#: What a list row shows (``support.tables``) and its countdown needs: a page of rows builds
#: fewer model fields (a ticket has thirty columns, most of them clock bookkeeping).
LIST_FIELDS = (
    "reference",
    "subject",
    "status",
    "priority",
    "sla_due_at",
    "sla_paused_at",
    "first_response_due_at",
    "first_responded_at",
    "resolution_due_at",
    "resolved_at",
    "first_response_breached",
    "resolution_breached",
    "created_at",
    "updated_at",
    "account__name",
    "queue",
    "assignee",
    "sla_policy",
    "custom",
)

#: The SLA policies (with their calendars) the rows' countdowns read, by their catalog name.
SLA_POLICIES = "support.sla-policies"

QUEUE_VIEWS = [
    ("mine", "My queue", "support:my_queue"),
    ("unassigned", "Unassigned", "support:unassigned"),
    ("breaching", "Breaching", "support:breaching"),
    ("pending", "Pending", "support:pending"),
    ("all", "All tickets", "support:ticket_list"),
]


class TicketListView(FilteredListView):
    """Every visible ticket; the queue views below narrow it and sort by SLA due."""

    list_selector = selectors.ticket_list
    filterset_class = TicketFilterSet
    record_kind = "tickets"
    title = "Tickets"
    empty_noun = "tickets"
    template_name = "support/ticket_list.html"
    partial_template_name = "support/_ticket_table.html"
    row_template = "support/rows/ticket.html"
    custom_entity = "ticket"
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
        """With what list rows show: the account joined; the queue, the assignee and the
        policy with its calendar (for the countdown) come from the catalog (``attach_catalog``),
        which saves the query four joins (planning it took longer than running it)."""
        return super().base_queryset().select_related("account").only(*LIST_FIELDS)

    def attach_catalog(self, tickets) -> None:
        user = self.request.user
        # The same queries as the queue filter's and the bulk bar's options: read once.
        catalog.attach(user, tickets, "queue", filtersets.queues(), rows_name=filtersets.QUEUES)
        agents = ticket_services.agents_for_assignment()
        catalog.attach(user, tickets, "assignee", agents, rows_name=ticket_services.AGENTS)
        policies = SLAPolicy.objects.select_related("calendar")
        catalog.attach(user, tickets, "sla_policy", policies, rows_name=SLA_POLICIES)

    def can_create(self):
        return may_work_tickets(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        may_bulk = may_work_tickets(self.request.user)
        self.attach_catalog(context["object_list"])
        selectors.attach_countdowns(context["object_list"], user=self.request.user)
        tables.ticket_rows(context["object_list"], may_bulk=may_bulk)
        context.update(
            view_name=self.view_name,
            may_bulk=may_bulk,
            bulk_form=BulkForm(user=self.request.user),
            queue_views=QUEUE_VIEWS,
        )
        return context


class QueueView(TicketListView):
    """A work queue: what needs action first (``selectors.tickets_by_need``): breached and
    soonest SLA due, open before pending, then the more urgent."""

    default_sort = "due"
    empty_text = "Nothing in this queue right now."
    sorts = {
        **TicketListView.sorts,
        "due": selectors.QUEUE_ORDER,
    }

    def base_queryset(self):
        return selectors.tickets_by_need(super().base_queryset().active())


class MyQueueView(QueueView):
    title = "My queue"
    view_name = "mine"

    def base_queryset(self):
        return super().base_queryset().filter(assignee=self.request.user)


class UnassignedView(QueueView):
    title = "Unassigned"
    view_name = "unassigned"

    def base_queryset(self):
        return super().base_queryset().filter(assignee__isnull=True)


class BreachingView(QueueView):
    title = "Breaching"
    view_name = "breaching"

    def base_queryset(self):
        return super().base_queryset().filter(sla_due_at__lt=timezone.now())


class PendingView(TicketListView):
    title = "Pending customer"
    empty_text = "No tickets are waiting on the customer."
    view_name = "pending"
    default_sort = "-updated"

    def base_queryset(self):
        return super().base_queryset().filter(status=TicketStatus.PENDING)


class TicketCreateView(SubmittedOnceMixin, FormView):
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
                custom=form.custom_values(),
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
