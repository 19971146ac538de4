"""Finding the leads and contacts that may be the same person as a new or changed lead.

The judgement is ``crm.matching``'s (normalised email, phone, nicknames, similar names, company);
this module finds the candidates (the stored blocking keys, and the trigram index on names), asks
it about each and keeps the best: "same" before "likely", then the higher score. Pairs a user
answered "not a duplicate" are never proposed again (``crm.models.DuplicateDismissal``).
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from crm import matching
from crm.choices import ActivityKind
from crm.matching import Person
from crm.models import Contact
from crm.services.duplicates import dismissed_pairs, duplicate_dismiss
from crm.services.timeline import activity_log
from leads.models import Lead

FREE_MAIL_DOMAINS = matching.FREE_MAIL_DOMAINS
#: Candidates read per record (the blocking keys keep the real number far lower).
CANDIDATES = 50
PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "company_name", "website", "country")


@dataclass
class DuplicateMatch:
    """The best match of a lead among leads and contacts (at most one of them), and why."""

    lead: Lead | None = None
    contact: Contact | None = None
    match: matching.Match | None = None

    def __bool__(self):
        return self.lead is not None or self.contact is not None

    @property
    def outcome(self) -> str:
        return self.match.outcome if self.match is not None else matching.DIFFERENT

    @property
    def is_same(self) -> bool:
        return bool(self) and self.outcome == matching.SAME

    @property
    def reasons(self) -> str:
        return self.match.describe() if self.match is not None else ""

    def describe(self) -> str:
        if self.lead is not None:
            return f"the lead {self.lead} (#{self.lead.pk})"
        if self.contact is not None:
            return f"the contact {self.contact} (#{self.contact.pk})"
        return ""


STRONG_KEYS = ("e:", "p:")


def _candidates(model, person: Person, exclude_pk=None):
    """Records sharing a blocking key or a similar name: first those with the same mailbox or
    phone (never crowded out), then up to ``CANDIDATES`` by the weaker keys and the name."""
    keys = matching.person_keys(person)
    strong = [key for key in keys if key.startswith(STRONG_KEYS)]
    weak = [key for key in keys if not key.startswith(STRONG_KEYS)]
    rows = model.objects.exclude(pk=exclude_pk) if exclude_pk else model.objects.all()
    found = (
        list(rows.filter(match_keys__overlap=strong).order_by("id")[:CANDIDATES]) if strong else []
    )
    condition = Q(match_keys__overlap=weak) if weak else Q()
    name = matching.person_name_key(person)
    if name:
        condition |= Q(match_name__trigram_similar=name)
    if condition:
        found += list(
            rows.filter(condition).exclude(pk__in=[r.pk for r in found]).order_by("id")[:CANDIDATES]
        )
    return found


def best_match(*, lead: Lead, exclude_pk=None, contacts: bool = True) -> DuplicateMatch:
    """The lead, else the contact, most likely to be the same person as ``lead`` (saved or
    not); an empty match when nothing is even likely."""
    person = Person.of_record(lead)
    dismissed = dismissed_pairs("lead", lead.pk) if lead.pk else set()
    found = DuplicateMatch()
    for model in (Lead, Contact) if contacts else (Lead,):
        for candidate in _candidates(model, person, exclude_pk or lead.pk):
            if model is Lead and candidate.pk in dismissed:
                continue
            judged = matching.person_compare(person, Person.of_record(candidate))
            if judged.outcome == matching.DIFFERENT:
                continue
            if found.match is None or _better(judged, found.match):
                found = DuplicateMatch(
                    lead=candidate if model is Lead else None,
                    contact=candidate if model is Contact else None,
                    match=judged,
                )
    return found


def _better(new: matching.Match, old: matching.Match) -> bool:
    return (new.is_same, new.score) > (old.is_same, old.score)


def exact_match(*, email: str, phone: str, exclude_pk=None) -> DuplicateMatch:
    """The lead, else the contact, that is the same person by email or phone alone (a phone
    shared with someone else's name is not). Kept for callers that know no name."""
    probe = Lead(email=email or "", phone=phone or "")
    found = best_match(lead=probe, exclude_pk=exclude_pk)
    return found if found.is_same else DuplicateMatch()


def email_domain(email: str) -> str:
    return matching.email_company_domain(email)


def likely_duplicate(*, lead: Lead) -> Lead | None:
    """Another lead that is likely (not surely) the same person."""
    found = best_match(lead=lead, contacts=False)
    return found.lead if found and not found.is_same else None


@transaction.atomic
def lead_not_duplicate(*, lead: Lead, user) -> Lead:
    """The user's answer "not a duplicate" on a flagged lead: the pair (the lead and the one it
    was flagged against) is remembered and never proposed again; the lead is flagged again only
    if another lead is still likely the same person."""
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.duplicate_of_id:
        duplicate_dismiss(kind="lead", first_pk=lead.pk, second_pk=lead.duplicate_of_id, user=user)
    found = best_match(lead=lead, contacts=False)
    lead.duplicate_of = found.lead if found else None
    lead.possible_duplicate = bool(found) and lead.duplicate_of_id is not None
    lead.save(update_fields=["duplicate_of", "possible_duplicate", "updated_at"])
    activity_log(
        subject=lead,
        kind=ActivityKind.SYSTEM,
        summary="Marked as not a duplicate",
        actor=user if getattr(user, "is_authenticated", False) else None,
    )
    return lead
