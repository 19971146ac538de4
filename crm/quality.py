"""How usable a lead, contact or account is: a data-quality score from 0 to 100 with its reasons.

Three parts, each with its points and, when points are lost, the reasons in words:

- **Completeness**: the fields a rep needs to work the record, each with a weight (``WEIGHTS``);
- **Validity**: the email is an address (syntax and a domain that looks like one; a shared team
  mailbox such as ``info@`` counts half) and the phone a valid number (``phonenumbers``, read in
  the record's country or ``PHONE_DEFAULT_REGION``); an account's website domain looks like one;
  a person with neither email nor phone gets none of these points;
- **Freshness**: days since the record was last changed (or, for a lead, last touched: its
  ``last_activity_at``): full points within ``STALE_DAYS[0]`` days, fewer in each older band.

The functions here are pure: they read a record's attributes (no queries) at a given time. The
score is stored on the record (``quality``, indexed, for lists, filters and "worst first") with
the freshness band it was computed in (``quality_age_band``), so the daily job
(``crm.services.quality.quality_refresh``) recomputes only the rows whose band has changed since.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from crm.matching import ROLE_MAILBOXES
from crm.normalize import phone_is_valid

#: The models that carry a score (labels: crm never imports the later apps).
QUALITY_MODELS = ("leads.Lead", "crm.Contact", "crm.Account")

#: Age bands in days: younger than the first is fresh (band 0); older than the last, band 3.
STALE_DAYS = (90, 180, 365)
#: Freshness points per band.
FRESHNESS_POINTS = (20, 12, 5, 0)
FRESHNESS_MAX = FRESHNESS_POINTS[0]

#: Completeness weights per kind: (attribute, label, points). With validity and freshness, each
#: kind's parts add up to 100.
WEIGHTS = {
    "leads.lead": (
        ("first_name", "first name", 4),
        ("last_name", "last name", 4),
        ("email", "email", 10),
        ("phone", "phone", 10),
        ("company_name", "company", 6),
        ("title", "job title", 4),
        ("country", "country", 4),
        ("owner_id", "owner", 3),
    ),
    "crm.contact": (
        ("first_name", "first name", 5),
        ("last_name", "last name", 5),
        ("email", "email", 10),
        ("phone", "phone", 10),
        ("title", "job title", 6),
        ("account_id", "account", 5),
        ("owner_id", "owner", 4),
    ),
    "crm.account": (
        ("name", "name", 10),
        ("domain", "website domain", 15),
        ("industry", "industry", 10),
        ("size_band", "size", 8),
        ("country", "country", 10),
        ("owner_id", "owner", 7),
    ),
}
#: Points for valid contact details: a person's email and phone, an account's website domain.
VALIDITY_MAX = {"leads.lead": 35, "crm.contact": 35, "crm.account": 20}

#: Score bands shown as colours and offered as the list filter.
POOR_BELOW, GOOD_FROM = 50, 80
BANDS = (
    ("poor", f"Poor (<{POOR_BELOW})"),
    ("fair", f"Fair ({POOR_BELOW}–{GOOD_FROM - 1})"),
    ("good", f"Good ({GOOD_FROM}+)"),
)

_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}$")


@dataclass(frozen=True)
class Part:
    """One part of a score: its points out of its maximum, and why points were lost."""

    name: str
    points: int
    out_of: int
    reasons: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        return ", ".join(self.reasons)


@dataclass(frozen=True)
class Quality:
    """A record's score (0–100) and its parts."""

    score: int
    parts: tuple[Part, ...] = field(default_factory=tuple)
    age_band: int = 0

    @property
    def band(self) -> str:
        return band_of(self.score)

    @property
    def reasons(self) -> list[str]:
        return [reason for part in self.parts for reason in part.reasons]


def band_of(score: int | None) -> str:
    """``poor``, ``fair`` or ``good``; "" for a record not scored yet."""
    if score is None:
        return ""
    if score < POOR_BELOW:
        return "poor"
    return "fair" if score < GOOD_FROM else "good"


def kind_of(record) -> str:
    return record._meta.label_lower


def touched_at(record) -> datetime | None:
    """When the record was last changed or (a lead) last in touch."""
    times = [t for t in (getattr(record, "updated_at", None), _last_activity(record)) if t]
    return max(times) if times else None


def _last_activity(record):
    return getattr(record, "last_activity_at", None)


def age_band(touched: datetime | None, now: datetime) -> int:
    """0 (touched within ``STALE_DAYS[0]`` days) … 3 (not for more than ``STALE_DAYS[-1]``)."""
    if touched is None:
        return 0
    days = (now - touched).days
    return sum(days >= limit for limit in STALE_DAYS)


def email_problem(email: str) -> str:
    """Why an address is no good ("" when it is fine)."""
    try:
        validate_email(email)
    except ValidationError:
        return "email is not a valid address"
    local, _, domain = email.rpartition("@")
    if not _DOMAIN.match(domain.lower()):
        return "email domain does not look valid"
    return ""


def is_role_mailbox(email: str) -> bool:
    return email.rpartition("@")[0].lower() in ROLE_MAILBOXES


def _value(record, attr: str):
    """A field's stored value: read from the instance's dict where it is there, because the
    country field's descriptor builds a ``Country`` object on every read (a tenth of a
    millisecond, which a rescore of a million rows feels)."""
    values = getattr(record, "__dict__", {})
    return values[attr] if attr in values else getattr(record, attr, None)


def _completeness(record, kind: str) -> Part:
    weights = WEIGHTS[kind]
    given = {attr: bool(_value(record, attr)) for attr, _, _ in weights}
    missing = [label for attr, label, _ in weights if not given[attr]]
    points = sum(w for attr, _, w in weights if given[attr])
    total = sum(w for _, _, w in weights)
    reasons = (f"missing {', '.join(missing)}",) if missing else ()
    return Part("Completeness", points, total, reasons)


def _person_validity(record, out_of: int) -> Part:
    email = (getattr(record, "email", "") or "").strip()
    phone = (getattr(record, "phone", "") or "").strip()
    if not email and not phone:
        return Part("Validity", 0, out_of, ("no email or phone to reach them",))
    # Each detail given earns its share; one good way to reach a person is enough for full points.
    shares, reasons = [], []
    if email:
        problem = email_problem(email)
        if problem:
            shares.append(0.0)
            reasons.append(problem)
        elif is_role_mailbox(email):
            shares.append(0.5)
            reasons.append(f"email is a shared mailbox ({email.rpartition('@')[0]}@)")
        else:
            shares.append(1.0)
    if phone:
        if phone_is_valid(phone, str(_value(record, "country") or "")):
            shares.append(1.0)
        else:
            shares.append(0.0)
            reasons.append("phone is not a valid number")
    points = round(out_of * sum(shares) / len(shares))
    return Part("Validity", points, out_of, tuple(reasons))


def _account_validity(record, out_of: int) -> Part:
    domain = (getattr(record, "domain", "") or "").strip().lower()
    if not domain:
        return Part("Validity", 0, out_of, ("no website domain to check",))
    if not _DOMAIN.match(domain):
        return Part("Validity", 0, out_of, ("website domain does not look valid",))
    return Part("Validity", out_of, out_of)


def _freshness(record, band: int, touched, now) -> Part:
    points = FRESHNESS_POINTS[band]
    if band == 0 or touched is None:
        return Part("Freshness", points, FRESHNESS_MAX)
    days = (now - touched).days
    # A lead's activity counts (``last_activity_at``); a contact's or account's timeline does not.
    verb = "touched" if hasattr(record, "last_activity_at") else "updated"
    return Part("Freshness", points, FRESHNESS_MAX, (f"not {verb} for {days} days",))


def quality_of(record, *, now: datetime | None = None, touched: datetime | None = None) -> Quality:
    """The score of a lead, contact or account at ``now`` (default: now). ``touched`` overrides
    the record's own last-touched time (a service about to save it passes now)."""
    now = now or timezone.now()
    kind = kind_of(record)
    touched = touched or touched_at(record)
    band = age_band(touched, now)
    validity_max = VALIDITY_MAX[kind]
    if kind == "crm.account":
        validity = _account_validity(record, validity_max)
    else:
        validity = _person_validity(record, validity_max)
    parts = (_completeness(record, kind), validity, _freshness(record, band, touched, now))
    return Quality(score=sum(p.points for p in parts), parts=parts, age_band=band)


def quality_fields_set(record, *, now: datetime | None = None) -> list[str]:
    """Set the stored score of a record a service is about to save (so it counts as touched
    now); the names of the columns that changed, for ``save(update_fields=...)``."""
    now = now or timezone.now()
    quality = quality_of(record, now=now, touched=now)
    changed = []
    for name, value in (("quality", quality.score), ("quality_age_band", quality.age_band)):
        if getattr(record, name, None) != value:
            setattr(record, name, value)
            changed.append(name)
    return changed
