"""Reads of the shared core's records, and the two helpers every app's selectors are made of.

Each entity has one pair of selectors, named ``<entity>_list(*, user, for_change=False)`` (the
rows ``user`` may see, or with ``for_change`` change: the model's ``visible_to`` /
``changeable_by``) and ``<entity>_get(*, user, pk, for_change=False)`` (one of those rows, or
``Http404``: a record outside a user's reach is not disclosed, so pages and the API answer 404
alike). Views, exports, search, autocompletes and bulk actions fetch records only through them;
services take the records they are given.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.cache import caches
from django.db import models
from django.db.models import Avg, Count, Q
from django.db.models.functions import Coalesce, JSONObject
from django.http import Http404
from django.utils import timezone

from crm import compiled
from crm.models import (
    Account,
    AccountDuplicate,
    AccountMerge,
    Activity,
    ConsentEvent,
    Contact,
    ContactDuplicate,
    ContactMerge,
    Meeting,
    Notification,
    SavedView,
    Segment,
    Task,
    WebhookDelivery,
    WebhookEndpoint,
)
from crm.pagination import query_key
from crm.permissions import may_operate
from crm.quality import POOR_BELOW
from crm.text_search import text_search
from crm.visibility import owner_in_scope

#: Primary keys are bigints: anything larger (or not a whole number) cannot name a record.
MAX_PK = 2**63 - 1


def scoped(model: type[models.Model], *, user, for_change: bool = False) -> models.QuerySet:
    """The rows of ``model`` that ``user`` may see, or with ``for_change`` change."""
    manager = model._default_manager
    return manager.changeable_by(user) if for_change else manager.visible_to(user)


def is_record_key(value) -> bool:
    """Whether ``value`` (as sent in a form or URL) is a whole number in the key range: other
    values are never put into a query, where they would fail it."""
    text = str(value)
    return text.isascii() and text.isdigit() and 0 < int(text) <= MAX_PK


def record_get(queryset: models.QuerySet, pk, *, name=None, user=None, probes=None) -> models.Model:
    """The row ``pk`` of ``queryset``, else ``Http404`` (also for a pk that is not a whole
    number in the bigint range, so a guessed or mangled URL never answers 500).

    With ``name`` (which with ``user``'s roles must decide the queryset, as an entity's
    selector's arguments do) the query is compiled once for the user (``crm.compiled``).
    ``probes``, with a name, is ``(key, build)``: ``build(now=...)`` gives expressions over
    ``OuterRef("pk")`` (a record page's probes, ``RecordDetailView.all_probes``), which ``key``
    with the user's roles decides; their values come in the same query, as the dict
    ``record.probed``."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    if not 0 < pk <= MAX_PK:
        raise Http404
    if name is not None:
        if probes is None:
            found = compiled.rows(
                name, lambda pk: queryset.filter(pk=pk).order_by(), user=user, pk=pk
            )
        else:
            key, build = probes
            found = compiled.rows(
                (*name, *key),
                lambda pk, now: (
                    queryset.filter(pk=pk).annotate(probed=JSONObject(**build(now=now))).order_by()
                ),
                user=user,
                pk=pk,
                now=timezone.now(),
            )
        if not found:
            raise Http404
        return found[0]
    if probes is not None:
        raise ValueError("probes are read with a compiled record: give a name")
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise Http404 from None


def account_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Account, user=user, for_change=for_change)


def account_get(*, user, pk, for_change: bool = False, probes=None) -> Account:
    """``probes``: a record page's, read with the record (``record_get``)."""
    return record_get(
        account_list(user=user, for_change=for_change).select_related("owner"),
        pk,
        name=("account_get", for_change),
        user=user,
        probes=probes,
    )


def contact_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Contact, user=user, for_change=for_change)


def contact_get(*, user, pk, for_change: bool = False, probes=None) -> Contact:
    """``probes``: a record page's, read with the record (``record_get``)."""
    return record_get(
        contact_list(user=user, for_change=for_change).select_related("owner", "account"),
        pk,
        name=("contact_get", for_change),
        user=user,
        probes=probes,
    )


#: The columns a merge page's search looks in, and how many candidates it lists.
MERGE_SEARCH_FIELDS = {
    Contact: ("first_name", "last_name", "email", "title"),
    Account: ("name", "domain"),
}
MERGE_CANDIDATES = 20


def merge_candidates(*, user, record, query: str = "") -> models.QuerySet:
    """Contacts or accounts the user may change that ``record`` could be merged with: those
    matching ``query``, else those duplicate matching (``crm.matching``) would compare with it
    (a shared email, phone or domain key, or a similar name)."""
    model = type(record)
    rows = scoped(model, user=user, for_change=True).exclude(pk=record.pk)
    if query:
        rows = text_search(rows, MERGE_SEARCH_FIELDS[model], query)
    else:
        condition = models.Q(pk__in=[])
        if record.match_keys:
            condition |= models.Q(match_keys__overlap=record.match_keys)
        if record.match_name:
            condition |= models.Q(match_name__trigram_similar=record.match_name)
        rows = rows.filter(condition)
    related = ("account", "owner") if model is Contact else ("owner",)
    return rows.select_related(*related).order_by("-created_at", "-id")[:MERGE_CANDIDATES]


def _merge_get(model, *, user, pk):
    record = record_get(
        model.objects.filter(
            kept__in=model.kept.field.related_model.objects.changeable_by(user)
        ).select_related("kept", "merged_by", "undone_by"),
        pk,
    )
    if not owner_in_scope(user, record.merged_before.get("owner")):
        raise Http404  # the merged record was one the user may not change
    return record


def contact_merge_get(*, user, pk) -> ContactMerge:
    """A merge into a contact the user may change, of a contact they could change: the one
    they may undo."""
    return _merge_get(ContactMerge, user=user, pk=pk)


def account_merge_get(*, user, pk) -> AccountMerge:
    return _merge_get(AccountMerge, user=user, pk=pk)


def _both_visible(pairs: models.QuerySet, first: str, visible: models.QuerySet):
    """The pairs of a review queue whose two records are both among ``visible``."""
    if visible.query.is_empty():
        return pairs.none()
    if not visible.query.where:  # every record: no need to join them to the pairs
        return pairs
    return pairs.filter(**{f"{first}__in": visible, "other__in": visible})


def contact_duplicate_list(*, user) -> models.QuerySet:
    """The review queue of likely duplicate contacts: the pairs ``user`` may see both of."""
    return _both_visible(ContactDuplicate.objects.all(), "contact", contact_list(user=user))


def contact_duplicate_get(*, user, pk) -> ContactDuplicate:
    return record_get(contact_duplicate_list(user=user).select_related("contact", "other"), pk)


def account_duplicate_list(*, user) -> models.QuerySet:
    """The review queue of likely duplicate accounts: the pairs ``user`` may see both of."""
    return _both_visible(AccountDuplicate.objects.all(), "account", account_list(user=user))


def account_duplicate_get(*, user, pk) -> AccountDuplicate:
    return record_get(account_duplicate_list(user=user).select_related("account", "other"), pk)


def _duplicate_pairs(*, user, model, pk) -> models.QuerySet:
    if model is Contact:
        pairs, first = contact_duplicate_list(user=user), "contact"
    else:
        pairs, first = account_duplicate_list(user=user), "account"
    return pairs.filter(models.Q(**{f"{first}_id": pk}) | models.Q(other_id=pk))


def duplicate_count(*, user, record) -> int:
    """How many open pairs of the review queue ``record`` (a contact or an account) is in,
    among those ``user`` may see."""
    return _duplicate_pairs(user=user, model=type(record), pk=record.pk).count()


def duplicate_count_expression(*, user, model) -> models.Expression:
    """``duplicate_count`` as an expression about the record ``OuterRef("pk")`` of ``model``,
    for a page that reads it with other figures in one query."""
    pairs = _duplicate_pairs(user=user, model=model, pk=models.OuterRef("pk"))
    counted = pairs.order_by().annotate(n=models.Func(models.F("pk"), function="COUNT"))
    return Coalesce(models.Subquery(counted.values("n")), 0)


#: How many proof rows a record's Consent panel shows (the person's data export has them all).
CONSENT_PANEL_ROWS = 10


def consent_panel(*, user, record, limit: int = CONSENT_PANEL_ROWS) -> dict | None:
    """The newest proof of consent of ``record`` (a lead or a contact the caller already
    fetched through its selector, so ``user`` sees it), and how many more rows there are."""
    found = list(ConsentEvent.objects.for_object(record)[: limit + 1])
    return consent_panel_of(record, found, limit=limit)


def consent_panel_of(record, found: list, *, limit: int = CONSENT_PANEL_ROWS) -> dict:
    """The Consent panel of ``record`` from its newest events (``found``, up to ``limit + 1``);
    with none, what the panel shows when its probe found nothing."""
    return {"events": found[:limit], "more": len(found) > limit, "record": record}


def consent_exists(model) -> models.Exists:
    """Whether the record ``OuterRef("pk")`` (a lead or a contact) has any proof of consent."""
    return models.Exists(
        ConsentEvent.objects.filter(
            content_type=ContentType.objects.get_for_model(model),
            object_id=models.OuterRef("pk"),
        )
    )


def task_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Task, user=user, for_change=for_change)


def task_get(*, user, pk, for_change: bool = False) -> Task:
    return record_get(task_list(user=user, for_change=for_change).select_related("assignee"), pk)


def meeting_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Meeting, user=user, for_change=for_change)


def meeting_get(*, user, pk, for_change: bool = False) -> Meeting:
    return record_get(
        meeting_list(user=user, for_change=for_change).select_related("organizer"), pk
    )


def meetings_of_user(*, user) -> models.QuerySet:
    """The meetings ``user`` organises or is invited to (their "My meetings")."""
    return Meeting.objects.involving(user)


def meetings_of_record(*, user, obj, limit: int = 5) -> list[Meeting]:
    """The upcoming meetings about ``obj`` that ``user`` may see, soonest first."""
    return list(
        meetings_about(user=user, model=type(obj), object_id=obj.pk)
        .upcoming()
        .select_related("organizer")
        .order_by("starts_at", "id")[:limit]
    )


def meetings_about(*, user, model, object_id) -> models.QuerySet:
    """The meetings about the record ``object_id`` of ``model`` (a value or ``OuterRef``) that
    ``user`` may see, for a record the caller fetched through its selector. A user sees every
    meeting about a record they see of a kind meetings are about (``Meeting.visible_to``), so
    for those kinds the meeting's own visibility (a filter over every kind's records) is not
    needed."""
    from crm import registry

    about = Meeting.objects.filter(
        content_type=ContentType.objects.get_for_model(model), object_id=object_id
    )
    if registry.meeting_subjects.for_model(model) is None or not getattr(
        user, "has_any_role", False
    ):
        return about & meeting_list(user=user)
    return about


def activity_list(*, user) -> models.QuerySet:
    return scoped(Activity, user=user)


def segment_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Segment, user=user, for_change=for_change)


def segment_get(*, user, pk, for_change: bool = False) -> Segment:
    return record_get(segment_list(user=user, for_change=for_change).select_related("owner"), pk)


def saved_view_list(*, user, list_key: str = "", for_change: bool = False) -> models.QuerySet:
    """The saved views ``user`` may apply (their own and their teams' shared ones), or with
    ``for_change`` change (their own); of one list when ``list_key`` is given."""
    views = scoped(SavedView, user=user, for_change=for_change)
    return views.filter(list_key=list_key) if list_key else views


def saved_view_get(*, user, pk, list_key: str = "", for_change: bool = False) -> SavedView:
    return record_get(
        saved_view_list(user=user, list_key=list_key, for_change=for_change).select_related(
            "owner"
        ),
        pk,
    )


def signin_history(*, user, limit: int = 50) -> models.QuerySet:
    """The user's own most recent sign-in attempts (each user sees only theirs; admins see
    everyone's in Django admin)."""
    from crm.models import SignInEvent

    return SignInEvent.objects.filter(user_id=user.pk).order_by("-at", "-id")[:limit]


def user_session_list(*, user) -> list:
    """The user's signed-in sessions (on every device) that are still alive, oldest first."""
    from allauth.usersessions.models import UserSession

    return sorted(UserSession.objects.purge_and_list(user), key=lambda s: s.created_at)


def person_list(*, user) -> models.QuerySet:
    """Every user, for admins (the People pages); nobody for anyone else, so each of those
    pages answers 404 to them."""
    from crm.models import User
    from crm.permissions import may_administer_people

    if not may_administer_people(user):
        return User.objects.none()
    return User.objects.all()


def person_get(*, user, pk):
    return record_get(person_list(user=user), pk)


def team_list(*, user) -> models.QuerySet:
    """Every team, for admins (who create and staff them); nobody for anyone else."""
    from crm.models import Team
    from crm.permissions import may_administer_people

    if not may_administer_people(user):
        return Team.objects.none()
    return Team.objects.all()


def team_get(*, user, pk):
    return record_get(team_list(user=user), pk)


def audit_event_list(*, user) -> models.QuerySet:
    """The security audit trail, for admins; nothing for anyone else."""
    from crm.models import AuditEvent
    from crm.permissions import may_administer_people

    if not may_administer_people(user):
        return AuditEvent.objects.none()
    return AuditEvent.objects.all()


def signin_event_list(*, user) -> models.QuerySet:
    """Everyone's sign-in attempts (succeeded, failed, refused), for admins; nothing for
    anyone else (each user sees their own on their settings page: ``signin_history``)."""
    from crm.models import SignInEvent
    from crm.permissions import may_administer_people

    if not may_administer_people(user):
        return SignInEvent.objects.none()
    return SignInEvent.objects.all()


def webhook_endpoint_list(*, user, for_change: bool = False) -> models.QuerySet:
    """Webhook endpoints: admins' alone (everyone else reaches none, so every URL is a 404)."""
    if not may_operate(user):
        return WebhookEndpoint.objects.none()
    return WebhookEndpoint.objects.all()


def webhook_endpoint_get(*, user, pk, for_change: bool = False) -> WebhookEndpoint:
    return record_get(webhook_endpoint_list(user=user, for_change=for_change), pk)


def webhook_delivery_get(*, user, endpoint_pk, pk) -> WebhookDelivery:
    endpoint = webhook_endpoint_get(user=user, pk=endpoint_pk)
    return record_get(
        WebhookDelivery.objects.filter(endpoint=endpoint).select_related("endpoint"), pk
    )


def trashed_record_list(*, user) -> models.QuerySet:
    """Trash entries the user may see and restore: admins all; managers what they or their
    teams deleted or own; everyone else what they deleted or own."""
    from crm.models import TrashedRecord

    return TrashedRecord.objects.visible_to(user)


def trashed_record_get(*, user, pk) -> models.Model:
    return record_get(trashed_record_list(user=user), pk)


@dataclass(frozen=True)
class QualitySummary:
    """The data quality of a list's rows: the average score and the share below ``POOR_BELOW``,
    over ``rows`` scored rows (``sampled`` when the list is longer than was read)."""

    average: int
    poor_share: int
    rows: int
    sampled: bool


def quality_summary(
    *,
    queryset: models.QuerySet,
    limit: int | None = None,
    cache_seconds: int = 0,
    rows_key: str | None = None,
) -> QualitySummary | None:
    """The quality of a (visible, filtered) list's rows in one aggregate query; at most ``limit``
    rows are read (``QUALITY_SUMMARY_ROWS``), so a list of a million costs what one of that many
    does. None when no row is scored.

    With ``cache_seconds``, a sampled summary (of a list longer than ``limit``: an estimate
    already) is kept that long in the process's memory (the "local" cache) under its query,
    which holds the user's visibility and the filters, so whoever asks the same rows again
    reads it there. ``rows_key``: the key of the same rows the list's paginator made
    (``EstimatedCountPaginator.rows_key``), which saves compiling the query again."""
    limit = limit or settings.QUALITY_SUMMARY_ROWS
    rows = queryset.filter(quality__isnull=False).order_by().values("quality")[:limit]
    key = None
    if cache_seconds:
        if rows_key is not None:
            key = f"quality-summary:{limit}:{rows_key}"
        else:
            key = query_key("quality-summary", rows)
        cached = caches["local"].get(key) if key else None
        if cached is not None:
            return cached
    figures = rows.aggregate(
        average=Avg("quality"),
        poor=Count("quality", filter=Q(quality__lt=POOR_BELOW)),
        rows=Count("quality"),
    )
    if not figures["rows"]:
        return None
    summary = QualitySummary(
        average=round(figures["average"]),
        poor_share=round(100 * figures["poor"] / figures["rows"]),
        rows=figures["rows"],
        sampled=figures["rows"] >= limit,
    )
    if key is not None and summary.sampled:
        caches["local"].set(key, summary, cache_seconds)
    return summary


def notification_list(*, user) -> models.QuerySet:
    """The user's own notifications, newest first (nobody sees another's)."""
    return Notification.objects.visible_to(user).order_by("-created_at", "-id")


def notification_get(*, user, pk) -> Notification:
    return record_get(notification_list(user=user), pk)


#: The bell counts up to this many unread; more shows as "99+".
UNREAD_COUNT_CAP = 100


def notification_unread_count(*, user) -> int:
    """How many unread notifications the user has, counted up to ``UNREAD_COUNT_CAP`` (one
    query, on the unread index, however many there are)."""
    return notification_list(user=user).unread()[:UNREAD_COUNT_CAP].count()


def email_template_list(*, user, for_change: bool = False) -> models.QuerySet:
    from crm.models import EmailTemplate

    return scoped(EmailTemplate, user=user, for_change=for_change)


def email_template_get(*, user, pk, for_change: bool = False):
    return record_get(email_template_list(user=user, for_change=for_change), pk)


def compose_record_get(*, user, kind: str, pk):
    """The record an email is written from, if ``user`` may see it; 404 otherwise (an unknown
    kind too)."""
    from crm.registry import compose_targets

    target = compose_targets.get(kind)
    if target is None:
        raise Http404
    return target, record_get(scoped(target.model, user=user), pk)


def composed_email_get(*, user, pk):
    """An email written from a record, for its sender (their managers, admins) to act on."""
    from crm.models import ComposedEmail
    from crm.visibility import owner_scope

    queryset = owner_scope(ComposedEmail.objects.select_related("outbox"), user, field="sender")
    return record_get(queryset, pk)


def composed_emails_for(*, record, limit: int = 20) -> list:
    """The emails written from ``record``, newest first, with their delivery state."""
    from crm.models import ComposedEmail

    return list(
        ComposedEmail.objects.for_object(record)
        .select_related("outbox", "sender")
        .order_by("-created_at", "-id")[:limit]
    )
