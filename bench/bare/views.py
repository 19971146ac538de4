"""The reference pages: what a plain Django view costs for each product page benched."""

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import BooleanField, Count, Sum
from django.db.models.expressions import RawSQL
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from bare.models import (
    Account,
    Activity,
    Contact,
    Lead,
    Opportunity,
    Pipeline,
    Stage,
    Task,
    Ticket,
    User,
)

PAGE = 50
RELATED = 10


def sign_in(request):
    """The bench's sign-in: the named user, no password (served on localhost only)."""
    user = get_object_or_404(User, username=request.GET.get("username", ""))
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse("signed in")


def estimated_rows(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
        row = cursor.fetchone()
    return max(row[0], 0) if row else 0


def _list(request, title, rows, columns, count):
    return render(request, "list.html", {"title": title, "rows": rows, "columns": columns,
                                         "count": count})  # fmt: skip


def _search(queryset, table, words):
    tsquery = " & ".join(f"{w}:*" for w in words.lower().split()[:8])
    condition = RawSQL(
        f"{table}.search_document @@ to_tsquery('simple'::regconfig, %s)",
        [tsquery],
        output_field=BooleanField(),
    )
    rank = RawSQL(f"ts_rank({table}.search_document, to_tsquery('simple'::regconfig, %s))",
                  [tsquery])  # fmt: skip
    return queryset.filter(condition).annotate(rank=rank).order_by("-rank", "-id")


@login_required
def contact_list(request):
    rows = Contact.objects.select_related("account", "owner")
    count = None
    if request.GET.get("owner"):
        rows = rows.filter(owner_id=int(request.GET["owner"]))
    if request.GET.get("q"):
        rows = _search(rows, "crm_contact", request.GET["q"])
    else:
        rows = rows.order_by("-created_at", "-id")
    if not request.GET:
        count = estimated_rows("crm_contact")
    rows = [
        (
            c.get_absolute_url(),
            str(c),
            c.email,
            c.phone,
            c.title,
            c.account,
            c.owner,
            c.quality,
            c.created_at,
        )  # fmt: skip
        for c in rows[:PAGE]
    ]
    columns = ["Name", "Email", "Phone", "Title", "Account", "Owner", "Quality", "Created"]
    return _list(request, "Contacts", rows, columns, count)


Contact.get_absolute_url = lambda self: f"/contacts/{self.pk}/"
Account.get_absolute_url = lambda self: f"/accounts/{self.pk}/"


@login_required
def contact_detail(request, pk):
    contact = get_object_or_404(Contact.objects.select_related("account", "owner"), pk=pk)
    related = Activity.objects.filter(content_type_id=_content_type("contact"), object_id=pk)
    related = list(related.order_by("-occurred_at", "-id")[:RELATED])
    fields = [("Email", contact.email), ("Phone", contact.phone), ("Title", contact.title),
              ("Account", contact.account), ("Owner", contact.owner)]  # fmt: skip
    rows = [(a.occurred_at, a.kind, a.summary) for a in related]
    return render(request, "detail.html", {"title": str(contact), "fields": fields, "rows": rows})


@login_required
def account_detail(request, pk):
    account = get_object_or_404(Account.objects.select_related("owner"), pk=pk)
    contacts = account.contacts.select_related("owner").order_by("-created_at", "-id")[:RELATED]
    fields = [("Domain", account.domain), ("Industry", account.industry),
              ("Country", account.country), ("Stage", account.lifecycle_stage),
              ("Owner", account.owner)]  # fmt: skip
    rows = [(str(c), c.email, c.owner) for c in contacts]
    return render(request, "detail.html", {"title": str(account), "fields": fields, "rows": rows})


_CONTENT_TYPES = {}


def _content_type(model: str) -> int:
    if model not in _CONTENT_TYPES:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM django_content_type WHERE app_label = 'crm' AND model = %s",
                [model],
            )
            _CONTENT_TYPES[model] = cursor.fetchone()[0]
    return _CONTENT_TYPES[model]


@login_required
def lead_list(request):
    rows = Lead.objects.select_related("campaign", "owner").order_by("-created_at", "-id")
    rows = [
        (
            f"{lead.first_name} {lead.last_name}",
            lead.company_name,
            lead.status,
            lead.source,
            lead.campaign.name if lead.campaign else "",
            lead.owner,
            lead.score,
            lead.grade,
            lead.quality,
            lead.created_at,
        )  # fmt: skip
        for lead in rows[:PAGE]
    ]
    columns = ["Name", "Company", "Status", "Source", "Campaign", "Owner", "Score", "Grade",
               "Quality", "Created"]  # fmt: skip
    return _list(request, "Leads", rows, columns, estimated_rows("leads_lead"))


@login_required
def opportunity_list(request):
    rows = Opportunity.objects.select_related("account", "owner", "stage")
    rows = rows.filter(owner=request.user).order_by("-created_at", "-id")
    rows = [
        (
            deal.name,
            deal.account,
            deal.stage.name,
            f"{deal.amount} {deal.currency}",
            deal.probability,
            deal.expected_close_date,
            deal.owner,
            deal.created_at,
        )  # fmt: skip
        for deal in rows[:PAGE]
    ]
    columns = ["Name", "Account", "Stage", "Amount", "Prob.", "Close date", "Owner", "Created"]
    return _list(request, "Deals", rows, columns, None)


@login_required
def ticket_list(request):
    rows = Ticket.objects.select_related("queue", "assignee").order_by("-created_at", "-id")
    rows = [
        (
            t.reference,
            t.subject,
            t.status,
            t.priority,
            t.queue.name if t.queue else "",
            t.assignee,
            t.sla_due_at,
            t.created_at,
            t.updated_at,
        )  # fmt: skip
        for t in rows[:PAGE]
    ]
    columns = ["Ticket", "Subject", "Status", "Priority", "Queue", "Assignee", "SLA due",
               "Created", "Updated"]  # fmt: skip
    return _list(request, "Tickets", rows, columns, estimated_rows("support_ticket"))


@login_required
def home(request):
    """The user's open tasks and the latest activity on their records."""
    tasks = Task.objects.filter(assignee=request.user, done_at__isnull=True).order_by("due_at")
    activity = Activity.objects.filter(subject_owner_id=request.user.pk)
    fields = [(t.title, t.due_at) for t in tasks[:RELATED]]
    rows = [(a.occurred_at, a.kind, a.summary) for a in activity.order_by("-occurred_at")[:RELATED]]
    return render(request, "detail.html", {"title": "Home", "fields": fields, "rows": rows})


@login_required
def board(request):
    """The default pipeline's open stages: totals in one GROUP BY, then each stage's first cards."""
    pipeline = Pipeline.objects.filter(is_active=True).order_by("-is_default", "order").first()
    if pipeline is None:
        raise Http404
    stages = list(Stage.objects.filter(pipeline=pipeline, kind="open").order_by("order", "id"))
    deals = Opportunity.objects.filter(pipeline=pipeline, status="open")
    totals = {
        row["stage_id"]: row
        for row in deals.order_by().values("stage_id").annotate(n=Count("id"), value=Sum("amount"))
    }
    columns = []
    for stage in stages:
        cards = deals.filter(stage=stage).select_related("account", "owner")
        cards = list(cards.order_by("expected_close_date", "id")[:25])
        columns.append((stage, totals.get(stage.pk, {}), cards))
    return render(request, "board.html", {"columns": columns})
