"""Nurturing sequences: enrolment, running due steps, stopping, unsubscribing.

Due steps live in the database (``Enrollment.next_step_at``) and a beat task runs them. Each step
is claimed by one conditional UPDATE (state active, position unchanged, due) inside the same
transaction that queues its email (key ``seq:<enrollment>:<step>``) or creates its task, so a
worker killed at any point either did the whole step or none of it, and no step runs twice.
"""

import hashlib
import html
import logging
import re
from datetime import timedelta
from html import unescape

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import (
    Count,
    Q,
)
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, linebreaks

from crm.choices import ActivityKind
from crm.models import ConsentChannel
from crm.services.consents import ConsentProof, consent_record
from crm.services.customers import consent_stamp
from crm.services.outbox import email_queue
from crm.services.timeline import activity_log, system_event, task_create
from leads.choices import EnrollmentState, EnrollmentStopReason, LeadStatus, StepAction
from leads.models import Enrollment, Lead, Sequence, SequenceEmail, SequenceStep

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "leads.unsubscribe"
MERGE_FIELDS = ("first_name", "last_name", "full_name", "company", "title", "owner_name")
BATCH_SIZE = 200

# A template engine with no loaders, libraries or builtins beyond Django's defaults: templates
# cannot {% include %} files or {% load %} tags, and only see the plain strings we hand them.
_SANDBOX = Engine(dirs=[], app_dirs=False, loaders=[], libraries={}, autoescape=True)


def merge_context(lead: Lead) -> dict[str, str]:
    """The only values a template sees: plain strings, no objects to walk into."""
    owner = lead.owner
    return {
        "first_name": str(lead.first_name or ""),
        "last_name": str(lead.last_name or ""),
        "full_name": str(lead.full_name or ""),
        "company": str(lead.company_name or ""),
        "title": str(lead.title or ""),
        "owner_name": str(owner.get_full_name() or owner.username) if owner else "",
    }


ALLOWED_TAGS = frozenset(
    {"if", "elif", "else", "endif", "for", "empty", "endfor", "with", "endwith", "firstof"}
)
_TAG = re.compile(r"{%-?\s*(\w+)")


def template_check(source: str) -> None:
    """Raise TemplateSyntaxError when ``source`` uses a tag outside the sandbox's few (no
    include, load, extends, debug…) or does not compile."""
    for tag in _TAG.findall(source or ""):
        if tag not in ALLOWED_TAGS:
            raise TemplateSyntaxError(f"The tag “{tag}” is not allowed in email templates.")
    _SANDBOX.from_string(source or "")


_PLAIN_VARIABLE = re.compile(r"{{\s*([A-Za-z]\w*)\s*}}")
_LITERALS = {"True", "False", "None"}


class PlainTemplate:
    """A template whose only tags are plain ``{{ name }}`` variables, rendered by substitution:
    the same output as the engine (missing names render empty, values escaped when
    autoescaping) at a fraction of the cost, for sends of many thousands."""

    def __init__(self, source: str):
        self.source = source

    def render(self, values: dict[str, str], *, autoescape: bool) -> str:
        def value(match):
            text = str(values.get(match.group(1), ""))
            return html.escape(text) if autoescape else text  # what Django's escape does

        return _PLAIN_VARIABLE.sub(value, self.source)


def template_compile(source: str) -> Template | PlainTemplate:
    """Check and compile once; render many times with ``template_render_compiled``."""
    template_check(source)
    source = source or ""
    names = _PLAIN_VARIABLE.findall(source)
    if (
        "{%" not in source
        and "{#" not in source
        and source.count("{{") == len(names)
        and not _LITERALS.intersection(names)
    ):
        return PlainTemplate(source)
    return _SANDBOX.from_string(source)


def template_render_compiled(template, values: dict[str, str], *, autoescape: bool) -> str:
    if isinstance(template, PlainTemplate):
        return template.render(values, autoescape=autoescape)
    return template.render(Context({k: str(v) for k, v in values.items()}, autoescape=autoescape))


def template_render(source: str, values: dict[str, str], *, autoescape: bool) -> str:
    return template_render_compiled(template_compile(source), values, autoescape=autoescape)


def unsubscribe_token(lead: Lead) -> str:
    return signing.dumps({"lead": lead.pk}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_url(lead: Lead) -> str:
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    return base + reverse("leads:unsubscribe", args=[unsubscribe_token(lead)])


def lead_for_token(token: str) -> Lead | None:
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return Lead.objects.filter(pk=data.get("lead")).first() if isinstance(data, dict) else None


@transaction.atomic
def lead_unsubscribe(*, lead: Lead, ip: str | None = None) -> bool:
    """One click: no more marketing email; every active enrolment stops. Idempotent. The
    withdrawal leaves proof (the unsubscribe link, from ``ip``)."""
    now = timezone.now()
    updated = Lead.objects.filter(pk=lead.pk, unsubscribed_at__isnull=True).update(
        unsubscribed_at=now, **consent_stamp("marketing_consent", False)
    )
    enrollments_stop(lead=lead, reason=EnrollmentStopReason.UNSUBSCRIBED)
    if updated:
        consent_record(
            record=lead,
            consent="marketing_consent",
            given=False,
            at=now,
            proof=ConsentProof(channel=ConsentChannel.UNSUBSCRIBE, ip=ip),
        )
        system_event(subject=lead, summary="Unsubscribed from marketing email")
    return bool(updated)


def may_email(lead: Lead) -> bool:
    return bool(lead.email) and lead.marketing_consent and lead.unsubscribed_at is None


def _first_step(sequence: Sequence) -> SequenceStep | None:
    return sequence.steps.order_by("position").first()


@transaction.atomic
def lead_enrol(*, lead: Lead, sequence: Sequence, user=None) -> Enrollment | None:
    """Put a lead in a sequence (once: enrolling again returns the existing enrolment)."""
    existing = Enrollment.objects.filter(lead=lead, sequence=sequence).first()
    if existing is not None:
        return existing
    if not lead.is_open or lead.status == LeadStatus.QUALIFIED:
        return None
    first = _first_step(sequence)
    now = timezone.now()
    enrollment = Enrollment(lead=lead, sequence=sequence, enrolled_by=user)
    if first is None:
        enrollment.state, enrollment.finished_at = EnrollmentState.COMPLETED, now
    else:
        enrollment.next_position = first.position
        enrollment.next_step_at = now + timedelta(days=first.delay_days)
    try:
        with transaction.atomic():
            enrollment.save()
    except IntegrityError:
        return Enrollment.objects.get(lead=lead, sequence=sequence)
    activity_log(
        subject=lead, kind=ActivityKind.SYSTEM, summary=f"Enrolled in {sequence}", actor=user
    )
    return enrollment


def leads_bulk_enrol(*, leads, sequence: Sequence, user) -> int:
    """Enrol many visible leads; returns how many joined."""
    already = set(
        Enrollment.objects.filter(sequence=sequence, lead__in=leads).values_list(
            "lead_id", flat=True
        )
    )
    count = 0
    for lead in leads.exclude(pk__in=already).select_related("owner")[:2000]:
        if lead_enrol(lead=lead, sequence=sequence, user=user) is not None:
            count += 1
    return count


def lead_auto_enrol(*, lead: Lead) -> list[Enrollment]:
    """Enrol a new lead in every active sequence whose rule it matches."""
    sequences = Sequence.objects.filter(is_active=True, auto_enrol=True)
    joined = []
    for sequence in sequences:
        if sequence.rule_source and sequence.rule_source != lead.source:
            continue
        if sequence.rule_campaign_id and sequence.rule_campaign_id != lead.campaign_id:
            continue
        if sequence.rule_status and sequence.rule_status != lead.status:
            continue
        if sequence.rule_min_score is not None and lead.score < sequence.rule_min_score:
            continue
        enrollment = lead_enrol(lead=lead, sequence=sequence)
        if enrollment is not None:
            joined.append(enrollment)
    return joined


def enrollments_stop(*, lead: Lead, reason: str) -> int:
    """Stop every active enrolment of a lead (reply, qualification, unsubscribe…)."""
    return Enrollment.objects.filter(lead=lead, state=EnrollmentState.ACTIVE).update(
        state=EnrollmentState.STOPPED,
        stop_reason=reason,
        next_step_at=None,
        finished_at=timezone.now(),
    )


def _stop_reason_now(lead: Lead) -> str | None:
    """Why this lead must not get the next step, or None to go on."""
    if lead.unsubscribed_at is not None:
        return EnrollmentStopReason.UNSUBSCRIBED
    if lead.replied_at is not None:
        return EnrollmentStopReason.REPLIED
    return {
        LeadStatus.QUALIFIED: EnrollmentStopReason.QUALIFIED,
        LeadStatus.CONVERTED: EnrollmentStopReason.CONVERTED,
        LeadStatus.DISQUALIFIED: EnrollmentStopReason.DISQUALIFIED,
    }.get(lead.status)


def enrollment_run_step(*, enrollment_id: int, now=None) -> str:
    """Run the due step of one enrolment; returns what happened (for logs and tests).

    The claim and the step's effect commit together, so a crash leaves the step undone (it is
    picked up by the next run) or done (and claimed, so never again).
    """
    now = now or timezone.now()
    with transaction.atomic():
        enrollment = (
            Enrollment.objects.select_related("sequence", "lead", "lead__owner")
            .filter(pk=enrollment_id)
            .first()
        )
        if enrollment is None or enrollment.state != EnrollmentState.ACTIVE:
            return "gone"
        if enrollment.next_step_at is None or enrollment.next_step_at > now:
            return "not due"
        lead = enrollment.lead
        position = enrollment.next_position
        steps = list(enrollment.sequence.steps.filter(position__gte=position).order_by("position"))
        step = steps[0] if steps else None
        following = steps[1] if len(steps) > 1 else None
        stop = _stop_reason_now(lead)
        email_step = step is not None and step.action == StepAction.EMAIL
        if stop is None and email_step and not may_email(lead):
            stop = EnrollmentStopReason.NO_CONSENT
        claim = Enrollment.objects.filter(
            pk=enrollment.pk,
            state=EnrollmentState.ACTIVE,
            next_position=position,
            next_step_at__lte=now,
        )
        if stop is not None or step is None:
            claimed = claim.update(
                state=EnrollmentState.STOPPED if stop else EnrollmentState.COMPLETED,
                stop_reason=stop or "",
                next_step_at=None,
                finished_at=now,
            )
            return ("stopped: " + stop if stop else "completed") if claimed else "taken"
        if following is not None:
            advance = {
                "next_position": following.position,
                "next_step_at": now + timedelta(days=following.delay_days),
            }
        else:
            advance = {
                "state": EnrollmentState.COMPLETED,
                "next_step_at": None,
                "finished_at": now,
            }
        if not claim.update(steps_done=enrollment.steps_done + 1, **advance):
            return "taken"
        values = merge_context(lead)
        if step.action == StepAction.EMAIL:
            _send_step_email(enrollment=enrollment, step=step, lead=lead, values=values, now=now)
            return "email"
        if lead.owner_id:
            task_create(
                title=template_render(step.task_title or "Follow up", values, autoescape=False),
                notes=template_render(step.body, values, autoescape=False),
                due_at=now + timedelta(days=1),
                assignee=lead.owner,
                subject=lead,
            )
        return "task"


# --- A/B variants and tracking of step emails --------------------------------------------------

SEQUENCE_OPEN_SALT = "leads.sequence.open"
SEQUENCE_CLICK_SALT = "leads.sequence.click"
BUCKETS = 1000
LINK = re.compile(r"https?://[^\s\"'<>]+")


def links_tracked(text: str, tracked, *, html: bool) -> str:
    """Every http(s) link in ``text`` replaced by ``tracked(url)`` (HTML: unescaped first and
    escaped again)."""
    if html:
        return LINK.sub(lambda m: escape(tracked(unescape(m.group(0)))), text)
    return LINK.sub(lambda m: tracked(m.group(0)), text)


def step_bucket(step_id: int, lead_id: int) -> int:
    """0–999, the same for the same step and lead on every run and machine."""
    digest = hashlib.blake2b(f"step:{step_id}:{lead_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def step_variant_for(step: SequenceStep, lead_id: int, variants: list) -> object | None:
    """The variant a lead gets at an email step: the winner once picked, else an even,
    reproducible share of the step's variants (by label); None when the step has none (its own
    subject and body are sent)."""
    if step.winner_variant_id is not None:
        for variant in variants:
            if variant.pk == step.winner_variant_id:
                return variant
    if not variants:
        return None
    return variants[step_bucket(step.pk, lead_id) * len(variants) // BUCKETS]


def sequence_open_token(email_id: int) -> str:
    return signing.dumps({"s": email_id}, salt=SEQUENCE_OPEN_SALT)


def sequence_click_token(email_id: int, url: str) -> str:
    # The target travels inside the signed payload, so the redirect cannot be pointed elsewhere.
    return signing.dumps({"s": email_id, "u": url}, salt=SEQUENCE_CLICK_SALT, compress=True)


def tracking_token_read(token: str, *, salt: str, id_key: str) -> dict | None:
    """The payload of a signed open or click token (sequence emails name their row ``s``,
    campaign recipients ``r``), or None when the signature or the id is not right."""
    try:
        data = signing.loads(token, salt=salt)
    except signing.BadSignature:
        return None
    return data if isinstance(data, dict) and isinstance(data.get(id_key), int) else None


def _send_step_email(*, enrollment, step, lead, values, now) -> None:
    """Queue the step's email (its variant's, in an A/B test) with tracked links, an open pixel
    and the unsubscribe link, and record it for the step's results."""
    variants = list(step.variants.order_by("label"))
    variant = step_variant_for(step, lead.pk, variants)
    subject_source, body_source = (
        (variant.subject, variant.body) if variant else (step.subject, step.body)
    )
    record, _ = SequenceEmail.objects.get_or_create(
        enrollment=enrollment, step=step, defaults={"variant": variant, "sent_at": now}
    )
    site = getattr(settings, "SITE_URL", "").rstrip("/")

    def tracked(url: str) -> str:
        token = sequence_click_token(record.pk, url)
        return site + reverse("leads:sequence_email_click", args=[token])

    link = unsubscribe_url(lead)
    subject = template_render(subject_source, values, autoescape=False).strip()
    body_text = links_tracked(
        template_render(body_source, values, autoescape=False), tracked, html=False
    )
    body_html = links_tracked(
        linebreaks(template_render(body_source, values, autoescape=True), autoescape=False),
        tracked,
        html=True,
    )
    body_text += f"\n\n--\nNo more emails like this: {link}\n"
    body_html += f'<p style="font-size:small"><a href="{escape(link)}">Unsubscribe</a></p>'
    pixel = site + reverse("leads:sequence_email_open", args=[sequence_open_token(record.pk)])
    body_html += f'<img src="{escape(pixel)}" width="1" height="1" alt="">'
    email = email_queue(
        to_email=lead.email,
        subject=subject or enrollment.sequence.name,
        body_text=body_text,
        body_html=body_html,
        related=lead,
        idempotency_key=f"seq:{enrollment.pk}:{step.pk}",
    )
    SequenceEmail.objects.filter(pk=record.pk).update(outbound_email=email)


def sequences_run_due(*, now=None, batch_size: int = BATCH_SIZE) -> dict:
    """Beat: run every due step (in batches until none is due). Safe to run concurrently."""
    now = now or timezone.now()
    outcomes: dict[str, int] = {}
    seen: set[int] = set()
    while True:
        ids = list(
            Enrollment.objects.due(now)
            .exclude(pk__in=seen)
            .order_by("next_step_at", "id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return outcomes
        for enrollment_id in ids:
            seen.add(enrollment_id)
            try:
                outcome = enrollment_run_step(enrollment_id=enrollment_id, now=now)
            except Exception:
                # One broken template must not hold up every other lead's step.
                logger.exception("Enrollment %s: the step failed", enrollment_id)
                outcome = "error"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1


COUNT_NAMES = ("enrolled", "active", "completed", "replied", "unsubscribed", "converted")


def _count_expressions():
    return {
        "enrolled": Count("id"),
        "active": Count("id", filter=Q(state=EnrollmentState.ACTIVE)),
        "completed": Count("id", filter=Q(state=EnrollmentState.COMPLETED)),
        "replied": Count("id", filter=Q(stop_reason=EnrollmentStopReason.REPLIED)),
        "unsubscribed": Count("id", filter=Q(stop_reason=EnrollmentStopReason.UNSUBSCRIBED)),
        "converted": Count("id", filter=Q(lead__status=LeadStatus.CONVERTED)),
    }


def sequence_counts(sequence: Sequence) -> dict[str, int]:
    """Enrolled, active, completed, replied, unsubscribed and converted, in one query."""
    return Enrollment.objects.filter(sequence=sequence).aggregate(**_count_expressions())


def sequences_counts(sequence_ids) -> dict[int, dict[str, int]]:
    """The same counts for many sequences in one GROUP BY."""
    rows = (
        Enrollment.objects.filter(sequence_id__in=list(sequence_ids))
        .order_by()
        .values("sequence_id")
        .annotate(**_count_expressions())
    )
    empty = dict.fromkeys(COUNT_NAMES, 0)
    result = {pk: dict(empty) for pk in sequence_ids}
    for row in rows:
        result[row.pop("sequence_id")] = row
    return result
