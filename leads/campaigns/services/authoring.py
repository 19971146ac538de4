"""Writing email campaigns from the pages: create and edit a draft with its variants, and the
preview of a variant for a sample contact. Scheduling and cancelling are
``leads.campaigns.services.sending``'s status changes."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.html import linebreaks

from crm.models import Contact
from crm.services.timeline import system_event
from leads.campaigns.services.sending import contact_merge_values
from leads.choices import EmailCampaignStatus
from leads.models import EmailCampaign, EmailVariant
from leads.services.sequences import template_render

LABELS = "ABCD"
SETTINGS = (
    "name",
    "campaign",
    "segment",
    "rate_per_minute",
    "track_opens",
    "test_fraction",
    "winner_after_hours",
)


def _check(*, variants, winner_after_hours):
    if not 1 <= len(variants) <= len(LABELS):
        raise ValidationError("A campaign has one to four variants.")
    if winner_after_hours is not None and len(variants) < 2:
        raise ValidationError("Sending the winner needs at least two variants to compare.")


def _write_variants(campaign: EmailCampaign, variants) -> None:
    EmailVariant.objects.filter(campaign=campaign).delete()
    EmailVariant.objects.bulk_create(
        EmailVariant(campaign=campaign, label=label, subject=subject, body=body)
        for label, (subject, body) in zip(LABELS, variants, strict=False)
    )


@transaction.atomic
def email_campaign_create(*, user, variants: list[tuple[str, str]], **values) -> EmailCampaign:
    """A draft campaign with its variants (labelled A, B… in the order given)."""
    _check(variants=variants, winner_after_hours=values.get("winner_after_hours"))
    campaign = EmailCampaign.objects.create(
        created_by=user, status=EmailCampaignStatus.DRAFT, **{k: values[k] for k in SETTINGS}
    )
    _write_variants(campaign, variants)
    system_event(subject=campaign, summary=f"Email campaign drafted by {_name(user)}")
    return campaign


@transaction.atomic
def email_campaign_update(
    *, email_campaign: EmailCampaign, user, variants: list[tuple[str, str]], **values
) -> EmailCampaign:
    """Change a draft (a scheduled campaign goes back to draft first: nothing is sent from a
    campaign while it is edited)."""
    locked = EmailCampaign.objects.select_for_update().get(pk=email_campaign.pk)
    if locked.status != EmailCampaignStatus.DRAFT:
        raise ValidationError(
            f"A {locked.get_status_display().lower()} campaign can no longer be edited."
        )
    _check(variants=variants, winner_after_hours=values.get("winner_after_hours"))
    for name in SETTINGS:
        setattr(locked, name, values[name])
    locked.save(update_fields=list(SETTINGS))
    _write_variants(locked, variants)
    system_event(subject=locked, summary=f"Email campaign edited by {_name(user)}")
    return locked


def email_variant_preview(*, subject: str, body: str, contact: Contact | None) -> dict:
    """The variant as ``contact`` would read it (links are tracked only in the real send).
    Raises TemplateSyntaxError when a template does not work."""
    values = contact_merge_values(contact) if contact is not None else {}
    return {
        "subject": template_render(subject, values, autoescape=False).strip(),
        "body_html": linebreaks(template_render(body, values, autoescape=True), autoescape=False),
    }


def _name(user) -> str:
    return (user.get_full_name() or user.username) if user else "the system"
