"""Creating, changing and deleting accounts and contacts."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm import matching, webhooks
from crm.choices import ActivityKind, LifecycleStage
from crm.currencies import normalize_currency
from crm.matching import match_fields_set
from crm.models import Account, Contact
from crm.normalize import normalize_domain, normalize_email, normalize_phone
from crm.quality import quality_fields_set
from crm.services.consents import ConsentProof, consents_record
from crm.services.custom_fields import custom_changes_label, custom_fields_apply
from crm.services.duplicates import (
    dismissed_pairs,
    duplicate_pairs_rejudge,
    duplicates_flag,
)
from crm.services.timeline import activity_log
from crm.services.trash import trash_delete

ACCOUNT_FIELDS = (
    "name",
    "domain",
    "industry",
    "size_band",
    "country",
    "owner",
    "lifecycle_stage",
    "billing_address",
    "currency",
)
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


#: Candidates read per record (the blocking keys keep the real number far lower).
CANDIDATES = 50


class DuplicateRecordError(ValidationError):
    """A new or changed contact or account is surely one already there."""

    def __init__(self, record, match: matching.Match):
        self.record, self.match = record, match
        noun = record._meta.verbose_name
        super().__init__(
            f"This is already the {noun} {record} (#{record.pk}): {match.describe()}.",
            code="duplicate",
        )


def _candidates(model, keys: list[str], name: str, exclude_pk=None) -> list:
    condition = Q(match_keys__overlap=keys) if keys else Q()
    if name:
        condition |= Q(match_name__trigram_similar=name)
    if not condition:
        return []
    rows = model.objects.filter(condition)
    if exclude_pk:
        rows = rows.exclude(pk=exclude_pk)
    return list(rows.order_by("id")[:CANDIDATES])


def _best(judged_pairs):
    best = None
    for record, judged in judged_pairs:
        if judged.outcome == matching.DIFFERENT:
            continue
        if best is None or (judged.is_same, judged.score) > (best[1].is_same, best[1].score):
            best = (record, judged)
    return best


#: The fields matching reads: a change to one of them judges the record's pairs again.
CONTACT_MATCH_FIELDS = frozenset({"first_name", "last_name", "email", "phone"})
ACCOUNT_MATCH_FIELDS = frozenset({"name", "domain", "country"})


def _company(account: Account) -> matching.Company:
    return matching.Company.of(name=account.name, domain=account.domain, country=account.country)


def contact_compare(contact: Contact, other: Contact) -> matching.Match:
    """Whether two contacts are the same person (``crm.matching.person_compare``)."""
    return matching.person_compare(
        matching.Person.of_record(contact), matching.Person.of_record(other)
    )


def account_compare(account: Account, other: Account) -> matching.Match:
    """Whether two accounts are the same company (``crm.matching.company_compare``)."""
    return matching.company_compare(_company(account), _company(other))


def record_compare(record, other) -> matching.Match:
    """Two contacts or two accounts, judged."""
    compare = contact_compare if isinstance(record, Contact) else account_compare
    return compare(record, other)


def _flag(record, found) -> None:
    """Put the record and the one it most resembles (``found``, from ``*_duplicate``, which
    leaves out answered pairs) in the review queue."""
    if found is not None:
        duplicates_flag(record=record, other=found[0], match=found[1], dismissal_checked=True)


def contact_duplicate(contact: Contact) -> tuple[Contact, matching.Match] | None:
    """The saved contact most likely the same person as ``contact`` (saved or not), with the
    judgement; None when none is even likely (or the pair was answered "not a duplicate")."""
    person = matching.Person.of_record(contact)
    dismissed = dismissed_pairs("contact", contact.pk) if contact.pk else set()
    candidates = _candidates(
        Contact, matching.person_keys(person), matching.person_name_key(person), contact.pk
    )
    return _best(
        (other, matching.person_compare(person, matching.Person.of_record(other)))
        for other in candidates
        if other.pk not in dismissed
    )


def account_duplicate(account: Account) -> tuple[Account, matching.Match] | None:
    """The saved account most likely the same company as ``account``, with the judgement."""
    company = _company(account)
    dismissed = dismissed_pairs("account", account.pk) if account.pk else set()
    candidates = _candidates(
        Account, matching.company_keys(company), company.name[:200], account.pk
    )
    return _best(
        (
            other,
            matching.company_compare(company, _company(other)),
        )
        for other in candidates
        if other.pk not in dismissed
    )


def _changed_labels(record, changed: list[str], custom_before) -> str:
    """ "name, Industry tier": the built-in fields' names and the custom fields' labels."""
    labels = [record._meta.get_field(f).verbose_name for f in changed if f != "custom"]
    if "custom" in changed:
        labels.append(custom_changes_label(record, custom_before))
    return ", ".join(label for label in labels if label)


def _refuse_same(found) -> None:
    if found is not None and found[1].is_same:
        raise DuplicateRecordError(*found)


def _normalize_account(data: dict) -> dict:
    data = dict(data)
    if "domain" in data:
        data["domain"] = normalize_domain(data["domain"])
    if data.get("currency"):
        try:
            data["currency"] = normalize_currency(data["currency"])
        except ValidationError as error:
            raise ValidationError({"currency": error.messages}) from None
    elif "currency" in data:
        data["currency"] = ""
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
def account_create(
    *, user, summary: str = "Account created", on_duplicate: str = "raise", **data
) -> Account:
    """A new account; one that is surely an account already there (the same domain and a
    similar name) is refused with DuplicateRecordError, unless ``on_duplicate`` is ``allow``.
    One that resembles an account there (or is surely it, when allowed) is created and put in
    the review queue with it (``AccountDuplicate``). ``summary`` is its first timeline entry."""
    data = _normalize_account(data)
    if data.get("owner") is None:
        data["owner"] = user
    account = Account(**{k: v for k, v in data.items() if k in ACCOUNT_FIELDS})
    custom_fields_apply(account, data, user=user)
    found = account_duplicate(account)
    if on_duplicate == "raise":
        _refuse_same(found)
    match_fields_set(account)
    quality_fields_set(account)
    account.save()
    _flag(account, found)
    activity_log(subject=account, kind=ActivityKind.SYSTEM, summary=summary, actor=user)
    webhooks.emit("account.created", account)
    return account


@transaction.atomic
def account_update(*, account: Account, user, **data) -> Account:
    data = _normalize_account(data)
    before = account.custom
    changed = [f for f in ACCOUNT_FIELDS if f in data and getattr(account, f) != data[f]]
    for field in changed:
        setattr(account, field, data[field])
    if custom_fields_apply(account, data, user=user):
        changed.append("custom")
    found = None
    if ACCOUNT_MATCH_FIELDS & set(changed):
        found = account_duplicate(account)
        if {"name", "domain"} & set(changed) and found is not None and found[1].is_same:
            account.refresh_from_db(fields=changed)
            raise DuplicateRecordError(*found)
    if changed:
        keys = match_fields_set(account) + quality_fields_set(account)
        account.save(update_fields=[*changed, *keys, "updated_at"])
        if ACCOUNT_MATCH_FIELDS & set(changed):
            duplicate_pairs_rejudge(record=account, compare=account_compare)
            _flag(account, found)
        labels = _changed_labels(account, changed, before)
        activity_log(
            subject=account, kind=ActivityKind.SYSTEM, summary=f"Changed {labels}", actor=user
        )
    return account


#: The stages a purchase lifts to Customer: a prospect buying for the first time, and a churned
#: account buying again (won back). Customer is the last stage a purchase reaches.
BECOMES_CUSTOMER_ON_PURCHASE = (LifecycleStage.PROSPECT, LifecycleStage.CHURNED)


@transaction.atomic
def account_mark_customer(*, account: Account, user=None, reason: str) -> bool:
    """The account bought (a deal was won): a prospect or churned account becomes a customer;
    a customer stays one. Returns whether the stage changed (one guarded UPDATE, so two wins
    at once change it once)."""
    changed = Account.objects.filter(
        pk=account.pk, lifecycle_stage__in=BECOMES_CUSTOMER_ON_PURCHASE
    ).update(lifecycle_stage=LifecycleStage.CUSTOMER, updated_at=timezone.now())
    if not changed:
        return False
    account.lifecycle_stage = LifecycleStage.CUSTOMER
    activity_log(
        subject=account, kind=ActivityKind.SYSTEM, summary=f"Now a customer: {reason}", actor=user
    )
    return True


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
    on_duplicate: str = "raise",
    **data,
) -> Contact:
    """A new contact; ``summary`` is its first timeline entry (None when the caller writes its
    own, as a lead conversion does). Consents given leave proof (``consent_proof``, else the
    change's source). One that is surely a contact already there (``crm.matching``: the same
    email, or the same phone and name) is refused with DuplicateRecordError, unless
    ``on_duplicate`` is ``allow``. One that resembles a contact there (or is surely it, when
    allowed) is created and put in the review queue with it (``ContactDuplicate``)."""
    data = _normalize_contact(data)
    if data.get("owner") is None:
        data["owner"] = user
    contact = Contact(**{k: v for k, v in data.items() if k in CONTACT_FIELDS})
    custom_fields_apply(contact, data, user=user)
    found = contact_duplicate(contact)
    if on_duplicate == "raise":
        _refuse_same(found)
    given = [f for f in ("email_consent", "marketing_consent") if data.get(f)]
    _stamp_consent(contact, given)
    match_fields_set(contact)
    quality_fields_set(contact)
    contact.save()
    _flag(contact, found)
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
    before = contact.custom
    changed = [f for f in CONTACT_FIELDS if f in data and getattr(contact, f) != data[f]]
    for field in changed:
        setattr(contact, field, data[field])
    if custom_fields_apply(contact, data, user=user):
        changed.append("custom")
    found = None
    if CONTACT_MATCH_FIELDS & set(changed):
        found = contact_duplicate(contact)
        if {"email", "phone"} & set(changed) and found is not None and found[1].is_same:
            contact.refresh_from_db(fields=changed)
            raise DuplicateRecordError(*found)
    if changed:
        labels = _changed_labels(contact, changed, before)
        answered = [f for f in ("email_consent", "marketing_consent") if f in changed]
        _stamp_consent(contact, changed)
        keys = match_fields_set(contact) + quality_fields_set(contact)
        contact.save(update_fields=[*changed, *keys, "updated_at"])
        if CONTACT_MATCH_FIELDS & set(changed):
            duplicate_pairs_rejudge(record=contact, compare=contact_compare)
            _flag(contact, found)
        consents_record(record=contact, names=answered, proof=consent_proof)
        activity_log(
            subject=contact, kind=ActivityKind.SYSTEM, summary=f"Changed {labels}", actor=user
        )
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact, user) -> None:
    """Move the contact to the trash, with its timeline and tasks."""
    trash_delete(obj=contact, user=user)
