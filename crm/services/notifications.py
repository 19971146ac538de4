"""In-app notifications (the bell) and the email digest of them.

``notify`` records that something happened for a person, once per event: the ``dedupe_key``
names the event and is unique per recipient, so a retried automation, a double click or two
overlapping runs notify once (the insert skips a key already there). Later stages call it from
their own services; ``crm`` never imports them.

The digest (``notification_digests_send``, run by beat) emails each user whose digest is due
one message listing their unread notifications since the last digest, through the outbox. A
user's settings row is locked and moved on to the next due time in the same transaction that
queues the email, and the email's idempotency key names the due time it covers, so a rerun or
two overlapping runs send it once.
"""

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from crm import registry
from crm.models import Notification, NotificationSettings, User
from crm.models.notifications import DigestFrequency

#: Local hour at which daily digests go out.
DAILY_DIGEST_HOUR = 8
#: Notifications listed in one digest; the rest are counted and wait on the page.
DIGEST_MAX_ITEMS = 50
#: Settings rows selected per query by the digest run.
DIGEST_CHUNK = 200
#: Mentions looked up per note (more is not a note, it is a mailing list).
MENTION_LIMIT = 20


def _pk(user_or_id) -> int | None:
    return getattr(user_or_id, "pk", user_or_id)


def _row(*, recipient_id, kind, verb, dedupe_key, target, url, actor_id) -> Notification:
    if kind not in registry.notification_kinds:
        raise ValueError(f"Unknown notification kind {kind!r}")
    row = Notification(
        recipient_id=recipient_id,
        kind=kind,
        verb=verb[:255],
        url=(url if url is not None else _url_of(target))[:500],
        actor_id=actor_id,
        dedupe_key=dedupe_key[:200],
    )
    if target is not None:
        row.target = target
    return row


def _url_of(target) -> str:
    if target is None or not hasattr(target, "get_absolute_url"):
        return ""
    return target.get_absolute_url()


def notify(
    *, recipient, kind: str, verb: str, dedupe_key: str, target=None, url=None, actor=None
) -> bool:
    """Notify ``recipient`` (a user or their id) of one event; True if this call did.

    Nobody is notified of what they did themselves (``recipient`` is ``actor``), and an event
    already notified (the same ``dedupe_key``) is not notified again."""
    return bool(
        notify_many(
            recipients=[recipient],
            kind=kind,
            verb=verb,
            dedupe_key=dedupe_key,
            target=target,
            url=url,
            actor=actor,
        )
    )


def notify_many(
    *, recipients, kind: str, verb: str, dedupe_key: str, target=None, url=None, actor=None
) -> int:
    """Notify several people of one event in one INSERT; returns how many rows are new."""
    actor_id = _pk(actor)
    ids = {_pk(r) for r in recipients} - {None, actor_id}
    rows = [
        _row(
            recipient_id=pk,
            kind=kind,
            verb=verb,
            dedupe_key=dedupe_key,
            target=target,
            url=url,
            actor_id=actor_id,
        )
        for pk in sorted(ids)
    ]
    return notifications_insert(rows)


_INSERT_FIELDS = (
    "recipient_id",
    "kind",
    "verb",
    "content_type_id",
    "object_id",
    "url",
    "actor_id",
    "created_at",
    "dedupe_key",
)
_INSERT_CHUNK = 1000


def notifications_insert(rows: list[Notification]) -> int:
    """Insert prepared notifications, skipping any whose (recipient, dedupe_key) exists (also
    when a concurrent insert of the same key wins); returns how many rows are new."""
    qn = connection.ops.quote_name
    table = qn(Notification._meta.db_table)
    columns = ", ".join(qn(Notification._meta.get_field(f).column) for f in _INSERT_FIELDS)
    placeholders = "(" + ", ".join(["%s"] * len(_INSERT_FIELDS)) + ")"
    inserted = 0
    now = timezone.now()
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = rows[start : start + _INSERT_CHUNK]
        params = []
        for row in chunk:
            row.created_at = row.created_at or now
            params += [getattr(row, f) for f in _INSERT_FIELDS]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES "
                + ", ".join([placeholders] * len(chunk))
                + " ON CONFLICT DO NOTHING",
                params,
            )
            inserted += max(cursor.rowcount, 0)
    return inserted


def notification_row(
    *, recipient, kind: str, verb: str, dedupe_key: str, target=None, url=None, actor=None
) -> Notification:
    """One notification, not yet saved, for ``notifications_insert`` (many targets at once)."""
    return _row(
        recipient_id=_pk(recipient),
        kind=kind,
        verb=verb,
        dedupe_key=dedupe_key,
        target=target,
        url=url,
        actor_id=_pk(actor),
    )


def notification_mark_read(*, notification: Notification, user) -> Notification:
    """Mark one of the user's notifications read (once: a read one keeps its time)."""
    if notification.recipient_id != user.pk:
        raise ValidationError("This notification is someone else's.")
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.read_at = now
    return notification


def notification_mark_all_read(*, user) -> int:
    """Mark every unread notification of the user read; returns how many."""
    return Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )


# Mentions ------------------------------------------------------------------------------------

# "@username" (letters, digits and . _ + -) or "@First Last" (a user's first and last name).
_MENTION = re.compile(r"(?<![\w@.])@(\w[\w.+-]*)(?:[ \t]+(\w[\w'-]*))?")


def mentioned_users(text: str, *, exclude_id=None) -> list[User]:
    """The active users ``text`` mentions: ``@First Last`` when a user has that name, else
    ``@username``."""
    found = []
    for match in _MENTION.finditer(text or ""):
        found.append((match.group(1).rstrip(".+-"), match.group(2)))
        if len(found) >= MENTION_LIMIT:
            break
    if not found:
        return []
    query = Q()
    for word, following in found:
        query |= Q(username__iexact=word)
        if following:
            query |= Q(first_name__iexact=word, last_name__iexact=following)
    candidates = list(User.objects.filter(query, is_active=True).exclude(pk=exclude_id))
    by_username = {u.username.lower(): u for u in candidates}
    by_name = {(u.first_name.lower(), u.last_name.lower()): u for u in candidates}
    users = {}
    for word, following in found:
        user = by_name.get((word.lower(), following.lower())) if following else None
        user = user or by_username.get(word.lower())
        if user is not None:
            users[user.pk] = user
    return list(users.values())


def mentions_notify(*, activity, subject, actor) -> int:
    """Notify everyone a timeline entry mentions who may see ``subject``; returns how many."""
    from crm.selectors import scoped

    text = f"{activity.summary}\n{activity.body}"
    model = type(subject)
    if "@" not in text or not hasattr(model._default_manager, "visible_to"):
        return 0  # nobody mentioned, or a record without role rules to check them against
    rows = [
        notification_row(
            recipient=user,
            kind="mentioned",
            verb=f"{actor} mentioned you on {subject}: {activity.summary}",
            dedupe_key=f"mention:{activity.pk}",
            target=subject,
            actor=actor,
        )
        for user in mentioned_users(text, exclude_id=_pk(actor))
        if scoped(model, user=user).filter(pk=subject.pk).exists()
    ]
    return notifications_insert(rows)


# Settings and the digest ---------------------------------------------------------------------


def notification_settings_default(*, user) -> NotificationSettings:
    """A user's settings as they stand: their row, or the defaults (digest off, every kind)."""
    row = NotificationSettings.objects.filter(user_id=user.pk).first()
    if row is None:
        row = NotificationSettings(
            user=user, email_kinds=[key for key, _ in registry.notification_kinds.choices()]
        )
    return row


def next_digest_at(digest: str, *, now: datetime) -> datetime | None:
    """When a digest of this frequency is next due after ``now``: the next full hour, or the
    next ``DAILY_DIGEST_HOUR`` o'clock in the site's time zone."""
    if digest == DigestFrequency.HOURLY:
        return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if digest == DigestFrequency.DAILY:
        local = timezone.localtime(now)
        due = local.replace(hour=DAILY_DIGEST_HOUR, minute=0, second=0, microsecond=0)
        if due <= local:
            due += timedelta(days=1)  # wall-clock arithmetic: still 8 o'clock after DST
        return due
    return None


@transaction.atomic
def notification_settings_save(
    *, user, digest: str, email_kinds: list[str]
) -> NotificationSettings:
    """Set how often the user gets the digest and of which kinds. Turning it on starts the
    digest from now: what came before is on the page, not in the first email."""
    if digest not in DigestFrequency.values:
        raise ValidationError({"digest": "Choose how often."})
    unknown = set(email_kinds) - {key for key, _ in registry.notification_kinds.choices()}
    if unknown:
        raise ValidationError({"email_kinds": "Choose among the kinds listed."})
    now = timezone.now()
    row, _ = NotificationSettings.objects.select_for_update().get_or_create(user=user)
    changed = ["digest", "email_kinds"]
    was_on = row.digest != DigestFrequency.OFF
    if digest != row.digest:
        row.next_digest_at = next_digest_at(digest, now=now)
        changed.append("next_digest_at")
    if digest != DigestFrequency.OFF and not was_on:
        row.last_digest_at = now
        changed.append("last_digest_at")
    row.digest = digest
    row.email_kinds = list(email_kinds)
    row.save(update_fields=changed)
    return row


def notification_digests_send(*, now=None) -> dict:
    """Send every digest due at ``now``; returns counts (``sent``, ``empty``: nothing new)."""
    now = now or timezone.now()
    counts = {"sent": 0, "empty": 0}
    due = NotificationSettings.objects.exclude(digest=DigestFrequency.OFF).filter(
        next_digest_at__lte=now
    )
    last_id = 0
    while True:
        ids = list(
            due.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:DIGEST_CHUNK]
        )
        if not ids:
            return counts
        for pk in ids:
            outcome = _digest_send(pk, now=now)
            if outcome:
                counts[outcome] += 1
        last_id = ids[-1]


@transaction.atomic
def _digest_send(pk: int, *, now) -> str | None:
    row = (
        NotificationSettings.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("user")
        .exclude(digest=DigestFrequency.OFF)
        .filter(pk=pk, next_digest_at__lte=now)
        .first()
    )
    if row is None:
        return None  # another run holds or already sent it
    covered = row.next_digest_at
    since = row.last_digest_at
    items = Notification.objects.filter(
        recipient_id=row.user_id,
        read_at__isnull=True,
        kind__in=row.email_kinds,
        created_at__lte=now,
    )
    if since is not None:
        items = items.filter(created_at__gt=since)
    total = items.count()
    shown = list(items.order_by("created_at", "id")[:DIGEST_MAX_ITEMS])
    row.last_digest_at = now
    row.next_digest_at = next_digest_at(row.digest, now=now)
    row.save(update_fields=["last_digest_at", "next_digest_at"])
    user = row.user
    if not shown or not user.is_active or not user.email:
        return "empty"
    from crm.services.outbox import email_queue  # the outbox writes timelines, which notify

    email_queue(
        to_email=user.email,
        subject=f"{total} new notification{'s' if total != 1 else ''} in the CRM",
        body_text=_digest_text(user=user, shown=shown, total=total),
        idempotency_key=f"notification-digest:{user.pk}:{int(covered.timestamp())}",
    )
    return "sent"


#: A digest still unsent this long after its time was missed by beat's runs (the sweep wakes a
#: worker for it); twice that, and it shows on the operators' page.
DIGEST_GRACE = timedelta(minutes=10)


def _late_digests(since: timedelta):
    return NotificationSettings.objects.exclude(digest=DigestFrequency.OFF).filter(
        next_digest_at__lt=timezone.now() - since
    )


def notification_digests_sweep() -> int:
    """The sweep's part: digests overdue past ``DIGEST_GRACE`` (beat's runs did not happen, or
    their messages were lost) wake one run of the digest task; returns 1 if it woke one."""
    from crm.tasks import notification_digests_send as task
    from crm.work import enqueue_quietly

    if not _late_digests(DIGEST_GRACE).exists():
        return 0
    return int(enqueue_quietly(task))


def notification_digests_problems(limit: int) -> list:
    """Digests long overdue, for the operators' page."""
    from crm.work import Problem

    rows = _late_digests(2 * DIGEST_GRACE).select_related("user").order_by("next_digest_at")
    return [
        Problem(
            pk=row.pk,
            title=f"Notification digest of {row.user}",
            state="Late",
            detail="Not sent at its time: are Celery beat and a worker running?",
            since=row.next_digest_at,
            url=reverse("admin:crm_notificationsettings_change", args=[row.pk]),
        )
        for row in rows[:limit]
    ]


def notification_digests_retry(pk: int) -> bool:
    """Send one late digest now (once: the same claim as the scheduled run)."""
    return _digest_send(pk, now=timezone.now()) is not None


def _digest_text(*, user, shown, total) -> str:
    site = settings.SITE_URL.rstrip("/")
    lines = [f"Hello {user.first_name or user.username},", "", "New since your last digest:", ""]
    for item in shown:
        when = timezone.localtime(item.created_at).strftime("%Y-%m-%d %H:%M")
        lines.append(f"- {when} · {registry.notification_kinds.label(item.kind)}: {item.verb}")
        if item.url:
            lines.append(f"  {site}{item.url}")
    if total > len(shown):
        lines.append(f"… and {total - len(shown)} more.")
    lines += ["", f"All your notifications: {site}/notifications/", ""]
    lines.append(f"Change how often you get this email: {site}/me/#notifications")
    return "\n".join(lines) + "\n"
