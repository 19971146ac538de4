"""Reads of the support desk: one ``<entity>_list`` / ``<entity>_get`` pair per record the desk's
views fetch (over the models' ``visible_to`` / ``changeable_by``, see ``crm.selectors``), and the
ticket page's, list rows' and account panel's reads."""

from datetime import timedelta

from django.db import models
from django.db.models import (
    Avg,
    Count,
    Exists,
    F,
    Max,
    OuterRef,
    Q,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.http import Http404
from django.utils import timezone

from crm.selectors import record_get, scoped
from support import sla
from support.articles import normalise_query, prefix_tsquery
from support.choices import (
    ACTIVE_STATUSES,
    ArticleStatus,
    DeflectionStep,
    HelpSearchSource,
)
from support.models import (
    Article,
    ArticleCategory,
    Attachment,
    BusinessCalendar,
    CannedReply,
    CsatSurvey,
    Deflection,
    HelpSearch,
    Queue,
    QueueAgent,
    Ticket,
    TicketMerge,
    TicketMessage,
    priority_rank,
    waiting_on_customer,
)
from support.services import clock

PANEL_TICKETS = 5
#: What the panel shows of each ticket: its reference, subject, status and SLA state.
PANEL_TICKET_FIELDS = (
    *("reference", "subject", "status", "sla_due_at"),
    *("first_response_breached", "resolution_breached"),
)
CSAT_WINDOW = timedelta(days=365)


def ticket_list(*, user, for_change: bool = False):
    return scoped(Ticket, user=user, for_change=for_change)


def ticket_get(*, user, pk, for_change: bool = False) -> Ticket:
    """The ticket with what its page shows: customer, queue, assignee, the SLA calendar with its
    hours and holidays, the ticket it was merged into, its survey and tags."""
    return record_get(
        ticket_list(user=user, for_change=for_change)
        .select_related(
            "account",
            "contact",
            "queue",
            "assignee",
            "sla_policy__calendar",
            "merged_into",
            "csat",
        )
        .prefetch_related("sla_policy__calendar__hours", "sla_policy__calendar__holidays", "tags"),
        pk,
    )


def ticket_message_list(*, user, for_change: bool = False):
    """Messages of the tickets ``user`` may see (or change)."""
    return scoped(TicketMessage, user=user, for_change=for_change)


def attachment_list(*, user, for_change: bool = False):
    """Files of the tickets ``user`` may see (or change)."""
    return scoped(Attachment, user=user, for_change=for_change)


def attachment_get(*, user, pk, for_change: bool = False) -> Attachment:
    return record_get(attachment_list(user=user, for_change=for_change), pk)


def queue_list(*, user, for_change: bool = False):
    return scoped(Queue, user=user, for_change=for_change)


def queue_get(*, user, pk, for_change: bool = False) -> Queue:
    return record_get(queue_list(user=user, for_change=for_change), pk)


def queue_membership_get(*, user, queue_pk) -> QueueAgent:
    """``user``'s own place in queue ``queue_pk`` (404 when they are not one of its agents)."""
    try:
        return QueueAgent.objects.select_related("queue").get(queue_id=queue_pk, user=user)
    except QueueAgent.DoesNotExist:
        raise Http404 from None


def canned_reply_list(*, user, for_change: bool = False):
    return scoped(CannedReply, user=user, for_change=for_change)


def canned_reply_get(*, user, pk, for_change: bool = False) -> CannedReply:
    return record_get(canned_reply_list(user=user, for_change=for_change), pk)


def canned_replies_offered(*, user):
    """The active canned replies, by title: what the reply box offers."""
    return canned_reply_list(user=user).filter(is_active=True).order_by("title")


def csat_survey_by_token(*, token) -> CsatSurvey | None:
    """The survey a customer's link names (no sign-in: the token is the key), with its ticket."""
    return CsatSurvey.objects.filter(token=token).select_related("ticket").first()


def business_calendar_list(*, user, for_change: bool = False):
    return scoped(BusinessCalendar, user=user, for_change=for_change)


def business_calendar_get(*, user, pk, for_change: bool = False) -> BusinessCalendar:
    return record_get(
        business_calendar_list(user=user, for_change=for_change).prefetch_related(
            "hours", "holidays"
        ),
        pk,
    )


#: The work queues' order over ``tickets_by_need``'s annotations (read from the indexes of
#: ``support.models.need_index``).
QUEUE_ORDER = ("waiting_on_customer", "sla_due_at", "priority_rank", "id")


def tickets_by_need(queryset):
    """Annotate what the queue views sort on: ``waiting_on_customer`` (0 while the desk must
    act, 1 while pending with the clock paused) and ``priority_rank`` (0 = urgent). The queues
    order by these around the SLA due: breached and soonest due first, open before pending,
    then the more urgent."""
    return queryset.annotate(
        waiting_on_customer=waiting_on_customer(), priority_rank=priority_rank()
    )


def attach_countdowns(tickets, *, now=None, user=None) -> None:
    """Set ``countdown`` (business minutes to the next due, negative when overdue),
    ``countdown_seconds``, ``countdown_text`` and ``countdown_paused`` on each ticket of a page
    (at most a page of rows, never a whole table). A paused ticket's countdown is the time that
    was left when it was paused, frozen until it resumes. Each calendar's hours and holidays
    are read once for the page (two queries; none while the catalog of the request's ``user``
    keeps them: ``crm.catalog``), and one schedule per calendar measures every row's countdown."""
    from crm import catalog

    now = now or timezone.now()
    tickets = list(tickets)
    calendars = {t.sla_policy.calendar_id: t.sla_policy.calendar for t in tickets if t.sla_policy}
    schedules = catalog.read(
        user,
        ("sla-schedules", tuple(sorted(calendars))),
        lambda: clock.schedules_of(list(calendars.values())),
    )
    for ticket in tickets:
        schedule = schedules.get(ticket.sla_policy.calendar_id) if ticket.sla_policy else None
        paused = ticket.sla_paused_at is not None and ticket.is_active
        due = clock.next_target_due(ticket) if paused else ticket.sla_due_at
        minutes = None
        if due and schedule is not None:
            reading = clock.clock_reading_at(ticket, now=now)
            minutes = sla.business_minutes_between(schedule, reading, due)
        ticket.countdown = minutes
        ticket.countdown_paused = paused
        ticket.countdown_seconds = round(minutes * 60) if minutes is not None else None
        ticket.countdown_text = sla.format_business_minutes(minutes) if minutes is not None else ""


def ticket_thread(*, ticket) -> list:
    """The conversation, oldest first: the request itself, replies and notes as one list."""
    messages = list(
        TicketMessage.objects.filter(ticket=ticket)
        .select_related("author_user", "author_contact")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )
    return messages


def ticket_loose_attachments(*, ticket):
    return list(Attachment.objects.filter(ticket=ticket, message__isnull=True).order_by("id"))


def support_summary(*, user, **scope) -> dict | None:
    """Open, breaching and recent CSAT for the tickets of one account or contact, with the few
    most urgent open ones; None when the user sees none of them (the panel hides)."""
    now = timezone.now()
    visible = ticket_list(user=user).filter(**scope)
    active = Q(status__in=ACTIVE_STATUSES)
    figures = visible.aggregate(
        total=Count("id"),
        open=Count("id", filter=active),
        breaching=Count(
            "id",
            filter=active
            & (
                Q(sla_due_at__lt=now)
                | Q(first_response_breached=True)
                | Q(resolution_breached=True)
            ),
        ),
        csat_average=Avg("csat__rating", filter=Q(csat__answered_at__gte=now - CSAT_WINDOW)),
        csat_answers=Count("csat__rating", filter=Q(csat__answered_at__gte=now - CSAT_WINDOW)),
    )
    if not figures["total"]:
        return None
    tickets = []
    if figures["open"]:  # none active: the list would find nothing
        tickets = list(
            visible.filter(active)
            .only(*PANEL_TICKET_FIELDS)
            .order_by("sla_due_at", "id")[:PANEL_TICKETS]
        )
    for ticket in tickets:
        ticket.overdue = bool(ticket.sla_due_at and ticket.sla_due_at < now)
    return {**figures, "tickets": tickets, "scope": scope}


def support_summary_exists(*, user, field: str) -> Exists:
    """Whether ``support_summary`` shows anything for the record ``OuterRef("pk")`` (an account
    or a contact, named by ``field``): whether the user sees any of its tickets."""
    return Exists(ticket_list(user=user).filter(**{field: OuterRef("pk")}))


#: Merges a ticket's page offers to undo, newest first.
RECENT_MERGES = 5


def ticket_merge_get(*, user, pk) -> TicketMerge:
    """A merge of two tickets the user may both change (only they may see and undo it)."""
    return record_get(
        TicketMerge.objects.changeable_by(user).select_related(
            "kept", "merged", "merged_by", "undone_by"
        ),
        pk,
    )


def ticket_recent_merges(*, user, ticket: Ticket) -> list[TicketMerge]:
    """The ticket's merges (kept or merged) not undone, that the user may undo: one query."""
    return list(
        TicketMerge.objects.changeable_by(user)
        .of_ticket(ticket)
        .undoable()
        .select_related("kept", "merged", "merged_by")
        .order_by("-merged_at", "-id")[:RECENT_MERGES]
    )


# Knowledge base ---------------------------------------------------------------------------

#: How many articles a suggestion list (ticket form, agent panel) and "related" show.
SUGGESTIONS = 5


def article_list(*, user, for_change: bool = False):
    return scoped(Article, user=user, for_change=for_change)


def article_get(*, user, pk, for_change: bool = False) -> Article:
    return record_get(
        article_list(user=user, for_change=for_change).select_related("category", "author"), pk
    )


def article_category_list(*, user, for_change: bool = False):
    return scoped(ArticleCategory, user=user, for_change=for_change)


def article_category_get(*, user, pk, for_change: bool = False) -> ArticleCategory:
    return record_get(article_category_list(user=user, for_change=for_change), pk)


def article_search(queryset, query: str, *, any_word: bool = False):
    """Articles of ``queryset`` matching ``query``, annotated with ``search_rank`` (PostgreSQL
    ``ts_rank`` over the weighted title, summary and body), best first.

    A row matches the query as a web search engine reads it (``websearch_to_tsquery``:
    "quoted phrases", ``or``, ``-word``, English stemming, so "invoices" finds "invoice") or
    with its last word as a prefix, the word still being typed ("reset pass" finds "Reset your
    password"). With ``any_word`` a row matching any of the words is found (suggestions for a
    question in the customer's words): the more of it an article covers, and in its title
    rather than its body, the higher it ranks."""
    prefix = prefix_tsquery(query, any_word=any_word)
    if not prefix:
        return queryset.none()
    query = normalise_query(query)
    table = Article._meta.db_table
    vector = f'"{table}"."search_vector"'
    both = (
        "(websearch_to_tsquery('english'::regconfig, %s) || to_tsquery('english'::regconfig, %s))"
    )
    return (
        queryset.filter(
            RawSQL(f"{vector} @@ {both}", [query, prefix], output_field=models.BooleanField())
        )
        .annotate(
            search_rank=RawSQL(
                f"ts_rank({vector}, {both})", [query, prefix], output_field=models.FloatField()
            )
        )
        .order_by("-search_rank", "-view_count", "pk")
    )


def public_article_list():
    """What the help centre shows: published public articles, with their category."""
    return Article.objects.public().select_related("category").defer("body", "search_vector")


def public_article_search(query: str, *, any_word: bool = False):
    return article_search(public_article_list(), query, any_word=any_word)


def public_article_get(*, slug: str) -> Article:
    """A published public article by its address, else 404 (drafts, archived and internal
    articles are not disclosed)."""
    article = Article.objects.public().select_related("category").filter(slug=slug).first()
    if article is None:
        raise Http404
    return article


def help_categories():
    """The help centre's sections that hold at least one public article, with how many."""
    public = Q(articles__status=ArticleStatus.PUBLISHED, articles__visibility="public")
    return (
        ArticleCategory.objects.annotate(article_count=Count("articles", filter=public))
        .filter(article_count__gt=0)
        .order_by("order", "name")
    )


def related_articles(*, article: Article, limit: int = SUGGESTIONS):
    """Other public articles of the same category, most read first."""
    if article.category_id is None:
        return Article.objects.none()
    return (
        public_article_list()
        .filter(category_id=article.category_id)
        .exclude(pk=article.pk)
        .order_by("-view_count", "title")[:limit]
    )


def agent_article_suggestions(*, user, query: str, limit: int = SUGGESTIONS):
    """Published articles (internal and public) for an agent's answer to ``query``."""
    published = article_list(user=user).filter(status=ArticleStatus.PUBLISHED)
    return article_search(published.defer("body", "search_vector"), query, any_word=True)[:limit]


#: The periods the knowledge-base report offers, in days.
REPORT_PERIODS = (30, 90)
REPORT_ROWS = 20


def kb_report(*, days: int) -> dict:
    """The knowledge base's report over the last ``days``: searches with no result and the top
    searches (grouped by the normalised query, by count), the most read and the most and least
    helpful articles, and the ticket form's deflection funnel. Aggregates in SQL."""
    since = timezone.now() - timedelta(days=days)
    searches = HelpSearch.objects.filter(created_at__gte=since)
    grouped = searches.values("query").annotate(count=Count("id"), last=Max("created_at"))
    no_result = grouped.filter(results_count=0).order_by("-count", "-last")[:REPORT_ROWS]
    top = grouped.annotate(results=Max("results_count")).order_by("-count", "-last")[:REPORT_ROWS]
    totals = searches.aggregate(
        total=Count("id"),
        empty=Count("id", filter=Q(results_count=0)),
        help_centre=Count("id", filter=Q(source=HelpSearchSource.HELP_CENTRE)),
        ticket_form=Count("id", filter=Q(source=HelpSearchSource.TICKET_FORM)),
        agent=Count("id", filter=Q(source=HelpSearchSource.AGENT)),
    )
    funnel = Deflection.objects.filter(created_at__gte=since).aggregate(
        **{step: Count("id", filter=Q(step=step)) for step in DeflectionStep.values}
    )
    rated = (
        Article.objects.filter(Q(helpful_yes__gt=0) | Q(helpful_no__gt=0))
        .annotate(
            vote_count=F("helpful_yes") + F("helpful_no"),
            ratio=Cast("helpful_yes", models.FloatField()) / (F("helpful_yes") + F("helpful_no")),
        )
        .only("title", "helpful_yes", "helpful_no", "status", "visibility")
    )
    helpful = rated.aggregate(yes=models.Sum("helpful_yes"), no=models.Sum("helpful_no"))
    all_votes = (helpful["yes"] or 0) + (helpful["no"] or 0)
    return {
        "days": days,
        "no_result": list(no_result),
        "top": list(top),
        "totals": totals,
        "funnel": funnel,
        "most_viewed": list(
            Article.objects.filter(view_count__gt=0)
            .only("title", "view_count", "helpful_yes", "helpful_no", "status", "visibility")
            .order_by("-view_count", "title")[:REPORT_ROWS]
        ),
        "least_helpful": list(rated.order_by("ratio", "-vote_count", "title")[:10]),
        "helpful_ratio": (helpful["yes"] or 0) / all_votes if all_votes else None,
        "votes": all_votes,
    }
