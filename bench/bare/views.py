"""The reference pages: what a plain Django view costs for each product page benched."""

from datetime import timedelta

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField, Count, F, Q, Sum
from django.db.models.expressions import RawSQL
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from bare.models import (
    Account,
    Activity,
    Contact,
    Lead,
    Meeting,
    MeetingAttendee,
    OnboardingPlan,
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
    related = Activity.objects.filter(content_type_id=_type_id(Contact), object_id=pk)
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


#: The records tasks, meetings and activities are about, by (app label, model) as content types
#: name them.
SUBJECTS = {
    ("crm", "contact"): Contact,
    ("crm", "account"): Account,
    ("leads", "lead"): Lead,
    ("sales", "opportunity"): Opportunity,
    ("sales", "onboardingplan"): OnboardingPlan,
    ("support", "ticket"): Ticket,
}
_SUBJECT_TYPES: dict[int, type] = {}
CLOSED_LEADS = ("converted", "disqualified")


def _subject_types() -> dict[int, type]:
    """Content type id -> model of ``SUBJECTS``, read once per process (as Django's content
    types are)."""
    if not _SUBJECT_TYPES:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, app_label, model FROM django_content_type")
            for pk, app, model in cursor.fetchall():
                if (app, model) in SUBJECTS:
                    _SUBJECT_TYPES[pk] = SUBJECTS[app, model]
    return _SUBJECT_TYPES


def _type_id(model) -> int:
    return next(pk for pk, subject in _subject_types().items() if subject is model)


def _subjects(rows) -> None:
    """``row.subject`` of each row: one query per kind of record, as Django's prefetch does."""
    keys: dict[int, set] = {}
    for row in rows:
        keys.setdefault(row.content_type_id, set()).add(row.object_id)
    found = {}
    for ct, pks in keys.items():
        if ct in _subject_types():
            for record in _subject_types()[ct].objects.filter(pk__in=pks):
                found[ct, record.pk] = record
    for row in rows:
        row.subject = found.get((row.content_type_id, row.object_id))


@login_required
def home_blocks(request):
    """What a rep's home page shows, read the plain way: overdue and due-today tasks and the
    overdue lead follow-ups, today's meetings, the open pipeline's totals and the deals closing
    soonest, the open leads by status and the best ones, the latest activity; the records the
    lists are about; counts and totals kept a minute (Django's cache), as the product keeps
    them."""
    user = request.user
    now = timezone.now()
    end_of_day = timezone.localtime(now).replace(hour=23, minute=59, second=59)
    mine = Task.objects.filter(assignee=user, done_at__isnull=True).order_by("due_at", "id")
    lead_type = _type_id(Lead)
    overdue = list(mine.filter(due_at__lt=now)[:16])
    due_today = list(mine.filter(due_at__gte=now, due_at__lte=end_of_day)[:16])
    follow_ups = list(mine.filter(due_at__lt=now, content_type_id=lead_type)[:10])
    invited = MeetingAttendee.objects.filter(user_id=user.pk).values("meeting_id")
    meetings = list(
        Meeting.objects.filter(Q(organizer_id=user.pk) | Q(pk__in=invited))
        .filter(status="scheduled", ends_at__gte=now, starts_at__lte=end_of_day)
        .select_related("organizer")
        .order_by("starts_at", "id")[:15]
    )
    deals = Opportunity.objects.filter(owner=user, status="open")
    leads = Lead.objects.filter(owner=user).exclude(status__in=CLOSED_LEADS)

    def figures():
        return {
            "pipeline": deals.aggregate(
                n=Count("*"),
                value=Sum("amount"),
                weighted=Sum(F("amount") * F("probability") / 100),
            ),
            "leads": list(leads.order_by().values_list("status").annotate(n=Count("id"))),
        }

    kept = cache.get_or_set(f"home:{user.pk}", figures, 60)
    closing = list(
        deals.filter(expected_close_date__gte=now.date())
        .select_related("stage")
        .order_by("expected_close_date", "id")[:5]
    )
    best = list(leads.order_by("-score", "-id")[:5])
    recent = list(
        Activity.objects.filter(Q(actor_id=user.pk) | Q(subject_owner_id=user.pk))
        .filter(occurred_at__gte=now - timedelta(days=90))
        .select_related("actor")
        .order_by("-occurred_at", "-id")[:15]
    )
    _subjects([*overdue, *due_today, *follow_ups])
    _subjects(meetings)
    _subjects(recent)
    return render(
        request,
        "home.html",
        {
            "tasks": [("Overdue", overdue[:15]), ("Due today", due_today[:15])],
            "follow_ups": follow_ups,
            "meetings": meetings,
            "figures": kept,
            "closing": closing,
            "best": best,
            "recent": recent,
        },
    )
