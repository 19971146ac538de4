"""Product usage: events from integrations (HTTP, with a token) and CSV files, and the daily
aggregates that health scoring reads."""

import csv
import datetime as dt
import hashlib
import io
import secrets
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Max, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from crm.models import Account
from crm.normalize import normalize_domain
from retention.choices import SubscriptionStatus, UsageKind, UsageSource
from retention.models import IntegrationToken, Subscription, UsageDaily, UsageEvent

#: Most events one HTTP request may carry.
MAX_EVENTS_PER_REQUEST = 1000
MAX_QUANTITY = 10_000_000


# Tokens ---------------------------------------------------------------------------------------


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def integration_token_create(*, name: str, user=None) -> tuple[IntegrationToken, str]:
    """A new token; the raw secret is returned once and only its hash is kept."""
    raw = "rt_" + secrets.token_urlsafe(32)
    token = IntegrationToken.objects.create(
        name=name, prefix=raw[:10], token_hash=token_hash(raw), created_by=user
    )
    return token, raw


def integration_token_check(raw: str) -> IntegrationToken | None:
    """The live token matching ``raw``, or None."""
    if not raw or len(raw) > 200:
        return None
    token = IntegrationToken.objects.filter(
        token_hash=token_hash(raw), revoked_at__isnull=True
    ).first()
    if token is not None:
        IntegrationToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


# Parsing --------------------------------------------------------------------------------------


def _parse_when(value) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        when = value
    else:
        text = str(value or "").strip()
        when = parse_datetime(text) if "T" in text or " " in text else None
        if when is None:
            day = parse_date(text) if text else None
            if day is None:
                return None
            when = dt.datetime.combine(day, dt.time(12, 0))
    if timezone.is_naive(when):
        when = timezone.make_aware(when, dt.UTC)
    return when


class Accounts:
    """Account ids for the ids and domains a batch names, looked up in two queries."""

    def __init__(self, rows: list[dict]):
        ids, domains = set(), set()
        for row in rows:
            ref = str(row.get("account", "") or "").strip()
            if ref.isdigit():
                ids.add(int(ref))
            domain = normalize_domain(str(row.get("account_domain", "") or ""))
            if domain:
                domains.add(domain)
        self.ids = set(Account.objects.filter(pk__in=ids).values_list("pk", flat=True))
        self.domains = dict(
            Account.objects.filter(domain__in=domains)
            .order_by("domain", "id")
            .values_list("domain", "pk")
        )

    def find(self, row: dict) -> int | None:
        ref = str(row.get("account", "") or "").strip()
        if ref.isdigit():
            return int(ref) if int(ref) in self.ids else None
        return self.domains.get(normalize_domain(str(row.get("account_domain", "") or "")))


def parse_event(row, accounts: Accounts) -> tuple[dict | None, dict[str, str]]:
    """(values for a UsageEvent, errors by field) of one incoming event."""
    if not isinstance(row, dict):
        return None, {"event": "Each event must be an object."}
    errors = {}
    account_id = accounts.find(row)
    if account_id is None:
        errors["account"] = "Give a known account id (account) or domain (account_domain)."
    kind = str(row.get("kind", "") or "").strip()
    if kind not in UsageKind.values:
        errors["kind"] = f"One of {', '.join(UsageKind.values)}."
    feature = str(row.get("feature", "") or "").strip()
    if kind == UsageKind.FEATURE and not feature:
        errors["feature"] = "Name the feature used."
    if len(feature) > 100:
        errors["feature"] = "At most 100 characters."
    quantity = row.get("quantity", 1)
    if quantity in ("", None):
        quantity = 1
    try:
        quantity = int(str(quantity).strip())
        if not 0 <= quantity <= MAX_QUANTITY:
            raise ValueError
    except (TypeError, ValueError):
        errors["quantity"] = f"A whole number from 0 to {MAX_QUANTITY}."
    when = _parse_when(row.get("occurred_at"))
    if when is None:
        errors["occurred_at"] = "An ISO 8601 date or date and time."
    elif when > timezone.now() + dt.timedelta(hours=1):
        errors["occurred_at"] = "Cannot be in the future."
    if errors:
        return None, errors
    return {
        "account_id": account_id,
        "kind": kind,
        "feature": feature if kind == UsageKind.FEATURE else "",
        "quantity": quantity,
        "occurred_at": when,
    }, {}


# Recording ------------------------------------------------------------------------------------


@transaction.atomic
def usage_events_record(*, events: list[dict], source: str, token=None) -> list[UsageEvent]:
    """Store parsed events and refresh the daily aggregates they touch."""
    objs = UsageEvent.objects.bulk_create(
        [UsageEvent(source=source, token=token, **values) for values in events], batch_size=1000
    )
    usage_daily_refresh(
        keys={(e["account_id"], timezone.localdate(e["occurred_at"])) for e in events}
    )
    return objs


@dataclass
class ApiResult:
    """What the usage API answers: the events stored, or why none were (``error``, with each
    bad event's index and reasons in ``events``)."""

    accepted: int = 0
    error: str = ""
    events: list[dict] = field(default_factory=list)


def usage_api_receive(*, payload, token) -> ApiResult:
    """A usage API body: one event, a list of events, or ``{"events": [...]}``. All or
    nothing: every event is stored, or none when any is invalid."""
    if isinstance(payload, dict) and "events" in payload:
        payload = payload["events"]
    events = payload if isinstance(payload, list) else [payload]
    if not events:
        return ApiResult(error="No events given.")
    if len(events) > MAX_EVENTS_PER_REQUEST:
        return ApiResult(error=f"At most {MAX_EVENTS_PER_REQUEST} events per request.")
    accounts = Accounts([e for e in events if isinstance(e, dict)])
    good, errors = [], []
    for index, event in enumerate(events):
        values, event_errors = parse_event(event, accounts)
        if event_errors:
            errors.append({"index": index, "errors": event_errors})
        else:
            good.append(values)
    if errors:
        return ApiResult(error="Some events are invalid; none were stored.", events=errors)
    usage_events_record(events=good, source=UsageSource.API, token=token)
    return ApiResult(accepted=len(good))


def usage_daily_refresh(*, keys: set[tuple[int, dt.date]]) -> int:
    """Recompute the daily rows of the given (account, day) pairs from their events and upsert
    them: one GROUP BY and one INSERT … ON CONFLICT, so a rerun writes the same numbers."""
    if not keys:
        return 0
    account_ids = {a for a, _ in keys}
    days = {d for _, d in keys}
    start = timezone.make_aware(dt.datetime.combine(min(days), dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(max(days) + dt.timedelta(days=1), dt.time.min))
    rows = (
        UsageEvent.objects.filter(
            account_id__in=account_ids, occurred_at__gte=start, occurred_at__lt=end
        )
        .annotate(day=TruncDate("occurred_at"))
        .values("account_id", "day", "kind", "feature")
        .annotate(total=Sum("quantity"), peak=Max("quantity"), events=Count("id"))
        .order_by()
    )
    objs = [
        UsageDaily(
            account_id=r["account_id"],
            day=r["day"],
            kind=r["kind"],
            feature=r["feature"],
            total=r["total"] or 0,
            peak=r["peak"] or 0,
            events=r["events"],
        )
        for r in rows
        if (r["account_id"], r["day"]) in keys
    ]
    UsageDaily.objects.bulk_create(
        objs,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["account", "day", "kind", "feature"],
        update_fields=["total", "peak", "events"],
    )
    seats_used_refresh(account_ids=account_ids)
    return len(objs)


def seats_used_refresh(*, account_ids=None, days: int = 30) -> int:
    """Each live subscription's seats used: the account's peak active users of the last
    ``days`` days (one GROUP BY; updates only rows whose number changed)."""
    since = timezone.localdate() - dt.timedelta(days=days)
    peaks = UsageDaily.objects.filter(kind=UsageKind.ACTIVE_USERS, day__gte=since)
    if account_ids is not None:
        peaks = peaks.filter(account_id__in=account_ids)
    peak_by_account = dict(
        peaks.values("account_id").annotate(p=Max("peak")).order_by().values_list("account_id", "p")
    )
    subscriptions = Subscription.objects.filter(
        account_id__in=peak_by_account,
        status__in=(
            SubscriptionStatus.ACTIVE,
            SubscriptionStatus.TRIAL,
            SubscriptionStatus.CANCELLED,
        ),
    ).only("pk", "account_id", "seats_used")
    changed = []
    for subscription in subscriptions:
        peak = peak_by_account[subscription.account_id]
        if subscription.seats_used != peak:
            subscription.seats_used = peak
            changed.append(subscription)
    Subscription.objects.bulk_update(changed, ["seats_used"], batch_size=1000)
    return len(changed)


# CSV import -----------------------------------------------------------------------------------

CSV_COLUMNS = ("account", "account_domain", "kind", "feature", "quantity", "occurred_at")


@dataclass
class ImportResult:
    created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def usage_import_csv(*, file, max_rows: int = 100_000) -> ImportResult:
    """Import usage events from CSV (columns: account or account_domain, kind, feature,
    quantity, occurred_at). Good rows are kept; each bad row is reported with its line."""
    result = ImportResult()
    raw = file.read()
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        result.errors.append((0, "The file is not UTF-8 text."))
        return result
    reader = csv.DictReader(io.StringIO(text))
    headers = {(h or "").strip().lower() for h in reader.fieldnames or ()}
    if not headers & {"account", "account_domain"} or "kind" not in headers:
        result.errors.append(
            (1, "The header needs account (or account_domain), kind and occurred_at columns.")
        )
        return result
    rows = []
    for line_no, row in enumerate(reader, start=2):
        if line_no - 1 > max_rows:
            result.errors.append((line_no, f"Stopped: at most {max_rows} rows per file."))
            break
        rows.append((line_no, {(k or "").strip().lower(): (v or "") for k, v in row.items()}))
    accounts = Accounts([r for _, r in rows])
    good = []
    for line_no, row in rows:
        values, errors = parse_event(row, accounts)
        if errors:
            result.errors.append((line_no, "; ".join(f"{k}: {v}" for k, v in errors.items())))
        else:
            good.append(values)
    if good:
        usage_events_record(events=good, source=UsageSource.CSV)
    result.created = len(good)
    return result
