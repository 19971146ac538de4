"""Advocacy: referral links that bring attributed leads, rewards when they convert,
testimonial and case-study requests, reference customers."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from crm.services.outbox import email_queue
from crm.services.timeline import system_event
from retention.choices import AdvocateStatus, RewardStatus, TestimonialKind, TestimonialStatus
from retention.models import Advocate, Referral, TestimonialRequest


def referral_url(advocate: Advocate) -> str:
    return getattr(settings, "SITE_URL", "") + reverse("retention:referral", args=[advocate.code])


def advocate_for_code(code: str) -> Advocate | None:
    return (
        Advocate.objects.filter(code=code)
        .exclude(status=AdvocateStatus.DECLINED)
        .select_related("contact", "account")
        .first()
    )


@transaction.atomic
def referral_lead_capture(*, advocate: Advocate, data: dict, ip: str | None = None):
    """A visitor of an advocate's link filled in the lead form: the lead is created through
    leads' services (deduplicated, scored, assigned) with source "referral", and attributed to
    the advocate. Someone already known as a lead is attributed if nobody referred them yet."""
    from crm.models import ConsentChannel
    from crm.services.consents import ConsentProof
    from leads.choices import LeadSource
    from leads.models import DEFAULT_CONSENT_WORDING, Campaign
    from leads.services.web_forms import public_form_lead

    campaign_slug = getattr(settings, "REFERRAL_CAMPAIGN_SLUG", "referrals")
    campaign = Campaign.objects.filter(slug=campaign_slug, is_active=True).first()
    # The referral page shows the lead form's standard consent wording.
    proof = ConsentProof(
        channel=ConsentChannel.REFERRAL,
        name=f"Referral link {advocate.code}",
        ip=ip,
        wording=DEFAULT_CONSENT_WORDING,
    )
    lead, _ = public_form_lead(
        data=data, source=LeadSource.REFERRAL, campaign=campaign, consent_proof=proof
    )
    if lead is None:
        return None  # an erased person's address: nothing of them is stored again
    try:
        with transaction.atomic():
            referral = Referral.objects.create(advocate=advocate, lead=lead)
    except IntegrityError:
        return Referral.objects.get(lead=lead)
    if advocate.status == AdvocateStatus.CANDIDATE:
        Advocate.objects.filter(pk=advocate.pk).update(status=AdvocateStatus.ACTIVE)
    system_event(
        subject=lead, summary=f"Referred by {advocate.contact.full_name} ({advocate.account})"
    )
    system_event(subject=advocate.contact, summary=f"Referred a lead: {lead}")
    return referral


def on_lead_converted(sender, *, lead, **kwargs):
    """Receiver of ``leads.signals.lead_converted``: a referred lead converting earns the
    advocate their reward (once)."""
    now = timezone.now()
    updated = Referral.objects.filter(lead=lead, converted_at__isnull=True).update(
        converted_at=now, reward_status=RewardStatus.EARNED
    )
    if updated:
        referral = Referral.objects.select_related("advocate__contact").get(lead=lead)
        system_event(
            subject=referral.advocate.contact,
            summary=f"Referral converted ({lead}): reward earned",
        )


def referral_reward_paid(*, referral: Referral, user) -> bool:
    return bool(
        Referral.objects.filter(pk=referral.pk, reward_status=RewardStatus.EARNED).update(
            reward_status=RewardStatus.PAID
        )
    )


@transaction.atomic
def testimonial_request(*, advocate: Advocate, kind: str, user) -> TestimonialRequest:
    """Ask an advocate for a testimonial or case study, by email through the outbox."""
    if kind not in TestimonialKind.values:
        raise ValidationError({"kind": "Testimonial or case study."})
    contact = advocate.contact
    if not contact.email:
        raise ValidationError("This contact has no email address.")
    request = TestimonialRequest.objects.create(
        advocate=advocate,
        kind=kind,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
        requested_at=timezone.now(),
    )
    what = "a short quote about working with us" if kind == "testimonial" else "a case study"
    sender = getattr(user, "get_full_name", lambda: "")() or "Your account team"
    email_queue(
        to_email=contact.email,
        subject="Would you share your experience with us?",
        body_text=(
            f"Hello {contact.full_name},\n\nThank you for recommending us! Would you be willing "
            f"to give us {what}? Just reply to this email, and tell us whether we may publish "
            f"it with your name and company.\n\n{sender}\n"
        ),
        related=contact,
        idempotency_key=f"retention:testimonial:{request.pk}",
    )
    system_event(subject=contact, summary=f"Asked for a {request.get_kind_display().lower()}")
    return request


@transaction.atomic
def testimonial_record(
    *, request: TestimonialRequest, quote: str, permission_to_publish: bool, status: str, user
) -> TestimonialRequest:
    if status not in TestimonialStatus.values:
        raise ValidationError({"status": "Unknown status."})
    if status == TestimonialStatus.APPROVED and not permission_to_publish:
        raise ValidationError({"status": "Approving for publication needs their permission."})
    request.quote = quote
    request.permission_to_publish = permission_to_publish
    request.status = status
    fields = ["quote", "permission_to_publish", "status"]
    if status != TestimonialStatus.REQUESTED and request.received_at is None:
        request.received_at = timezone.now()
        fields.append("received_at")
    request.save(update_fields=fields)
    return request


def advocate_set_reference(*, advocate: Advocate, is_reference: bool, user) -> Advocate:
    advocate.is_reference = is_reference
    advocate.save(update_fields=["is_reference"])
    system_event(
        subject=advocate.contact,
        summary="Agreed to be a reference customer" if is_reference else "No longer a reference",
    )
    return advocate
