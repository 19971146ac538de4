"""Creating, changing and deleting accounts and contacts."""

from django.db import transaction
from django.utils import timezone

from crm import webhooks
from crm.choices import ActivityKind
from crm.models import Account, Contact
from crm.normalize import normalize_domain, normalize_email, normalize_phone
from crm.services.consents import ConsentProof, consents_record
from crm.services.timeline import activity_log
from crm.services.trash import trash_delete

ACCOUNT_FIELDS = ("name", "domain", "industry", "size_band", "country", "owner", "lifecycle_stage")
CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "account",
    "owner",
    "email_consent",
    "marketing_consent",
)


def _normalize_account(data: dict) -> dict:
    data = dict(data)
    if "domain" in data:
        data["domain"] = normalize_domain(data["domain"])
    return data


def _normalize_contact(data: dict, *, region: str | None = None) -> dict:
    data = dict(data)
    if "email" in data:
        data["email"] = normalize_email(data["email"])
    if "phone" in data:
        account = data.get("account")
        data["phone"] = normalize_phone(
            data["phone"], region or (str(account.country) if account and account.country else None)
        )
    return data


def _stamp_consent(contact: Contact, changed: list[str]) -> None:
    """Consent timestamps record when the current answer was given."""
    now = timezone.now()
    for field in ("email_consent", "marketing_consent"):
        if field in changed:
            consent_stamp(field, getattr(contact, field), at=now, record=contact)
            changed.append(f"{field}_at")


def consent_stamp(name: str, given: bool, *, at=None, record=None) -> dict:
    """A consent answer (``email_consent`` or ``marketing_consent``, on a lead or a contact) with
    its timestamp: given at ``at`` (default now), or withdrawn with the timestamp cleared. Returns
    the two values (as a dict they also fit a conditional ``.update(**…)``); with ``record`` they
    are set on it too."""
    values = {name: given, f"{name}_at": (at or timezone.now()) if given else None}
    if record is not None:
        for attname, value in values.items():
            setattr(record, attname, value)
    return values


@transaction.atomic
def account_create(*, user, **data) -> Account:
    data = _normalize_account(data)
    if data.get("owner") is None:
        data["owner"] = user
    account = Account.objects.create(**{k: v for k, v in data.items() if k in ACCOUNT_FIELDS})
    activity_log(subject=account, kind=ActivityKind.SYSTEM, summary="Account created", actor=user)
    webhooks.emit("account.created", account)
    return account


@transaction.atomic
def account_update(*, account: Account, user, **data) -> Account:
    data = _normalize_account(data)
    changed = [f for f in ACCOUNT_FIELDS if f in data and getattr(account, f) != data[f]]
    for field in changed:
        setattr(account, field, data[field])
    if changed:
        account.save(update_fields=[*changed, "updated_at"])
        labels = ", ".join(Account._meta.get_field(f).verbose_name for f in changed)
        activity_log(
            subject=account, kind=ActivityKind.SYSTEM, summary=f"Changed {labels}", actor=user
        )
    return account


@transaction.atomic
def account_delete(*, account: Account, user) -> None:
    """Move the account to the trash, with its timeline, tasks and what cascades from it; its
    contacts and tickets stay, unlinked until it is restored. Refused (ValidationError) while
    it has deals or orders."""
    trash_delete(obj=account, user=user)


@transaction.atomic
def contact_create(
    *,
    user,
    summary: str | None = "Contact created",
    consent_proof: ConsentProof | None = None,
    **data,
) -> Contact:
    """A new contact; ``summary`` is its first timeline entry (None when the caller writes its
    own, as a lead conversion does). Consents given leave proof (``consent_proof``, else the
    change's source)."""
    data = _normalize_contact(data)
    if data.get("owner") is None:
        data["owner"] = user
    contact = Contact(**{k: v for k, v in data.items() if k in CONTACT_FIELDS})
    given = [f for f in ("email_consent", "marketing_consent") if data.get(f)]
    _stamp_consent(contact, given)
    contact.save()
    consents_record(record=contact, names=given, proof=consent_proof)
    if summary:
        activity_log(subject=contact, kind=ActivityKind.SYSTEM, summary=summary, actor=user)
    webhooks.emit("contact.created", contact)
    return contact


@transaction.atomic
def contact_update(
    *, contact: Contact, user, consent_proof: ConsentProof | None = None, **data
) -> Contact:
    data = _normalize_contact(data)
    changed = [f for f in CONTACT_FIELDS if f in data and getattr(contact, f) != data[f]]
    for field in changed:
        setattr(contact, field, data[field])
    if changed:
        labels = ", ".join(Contact._meta.get_field(f).verbose_name for f in changed)
        answered = [f for f in ("email_consent", "marketing_consent") if f in changed]
        _stamp_consent(contact, changed)
        contact.save(update_fields=[*changed, "updated_at"])
        consents_record(record=contact, names=answered, proof=consent_proof)
        activity_log(
            subject=contact, kind=ActivityKind.SYSTEM, summary=f"Changed {labels}", actor=user
        )
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact, user) -> None:
    """Move the contact to the trash, with its timeline and tasks."""
    trash_delete(obj=contact, user=user)
