"""Whether two records are the same person (or the same company), as a careful person would judge.

One module for leads, contacts and accounts. A record is read into a ``Person`` (or ``Company``)
whose identifiers are normalised the way people write them differently:

- email: case, plus-tags (``jane+news@``), dots where the provider ignores them (Gmail), and
  domains that are aliases of one mailbox (``googlemail.com`` is ``gmail.com``);
- phone: E.164 (``phonenumbers``), read in the record's country, else ``PHONE_DEFAULT_REGION``;
- names: transliterated to ASCII (``anyascii``: Müller, Мюллер), nicknames (the ``nicknames``
  package's hand-curated list: Bob is Robert, Peggy is Margaret), initials and typos
  (Jaro-Winkler similarity), first and last name swapped;
- company names without legal forms and punctuation (``ACME, Inc.`` is ``acme``), website
  domains, and the domain of a work email.

``person_compare`` weighs what agrees and what conflicts into a score with its reasons ("same
phone, similar name 0.86") and one of three outcomes, with thresholds in settings
(``MATCH_SAME_SCORE``, ``MATCH_LIKELY_SCORE``):

- **same**: the personal email agrees (whatever the names: a typo, a married name), or at least
  two independent signals agree (phone and name, name and company and phone) and the emails do
  not differ;
- **likely**: worth a person's look (a review queue, a flag), never acted on alone;
- **different**.

No single weak signal makes two people the same: a shared phone (one switchboard), a shared
company or a shared name is at most "likely"; with different emails, any match is at most
"likely". A shared role mailbox (``info@``) with different names is "likely" too.

``person_keys`` gives a record's blocking keys: short strings, stored in an indexed array column
(``match_keys``), such that two records that could be the same share at least one key. Finding the
candidates for a whole import chunk is then one indexed ``&&`` query, not a scan.
"""

import functools
import re
import string
import unicodedata
from dataclasses import dataclass, field

from anyascii import anyascii
from django.conf import settings
from django.core.exceptions import ValidationError
from rapidfuzz.distance import Jaro, Prefix

from crm.normalize import normalize_domain, normalize_phone

SAME, LIKELY, DIFFERENT = "same", "likely", "different"

#: Mail providers where anyone may have an address: their domain says nothing about a company.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.de",
        "yahoo.fr",
        "ymail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.de",
        "hotmail.fr",
        "outlook.com",
        "outlook.de",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "gmx.at",
        "gmx.ch",
        "web.de",
        "t-online.de",
        "freenet.de",
        "mail.com",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "yandex.ru",
        "mail.ru",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "qq.com",
        "163.com",
    }
)
#: Domains that deliver to one mailbox (the same local part at either is one address).
EMAIL_DOMAIN_ALIASES = {
    "googlemail.com": "gmail.com",
    "me.com": "icloud.com",
    "mac.com": "icloud.com",
    "pm.me": "proton.me",
    "protonmail.com": "proton.me",
    "protonmail.ch": "proton.me",
}
#: Providers that ignore dots in the local part (``j.a.ne@gmail.com`` is ``jane@gmail.com``).
DOTLESS_DOMAINS = frozenset({"gmail.com"})
#: Local parts that a team shares, not one person.
ROLE_MAILBOXES = frozenset(
    {
        "info",
        "sales",
        "office",
        "contact",
        "admin",
        "hello",
        "support",
        "team",
        "mail",
        "kontakt",
        "enquiries",
        "inquiries",
        "service",
        "billing",
        "accounts",
        "post",
    }
)
#: Legal forms dropped from company names (as words, after punctuation is gone).
LEGAL_FORMS = frozenset(
    {
        "inc",
        "incorporated",
        "llc",
        "llp",
        "lp",
        "ltd",
        "limited",
        "corp",
        "corporation",
        "co",
        "company",
        "plc",
        "gmbh",
        "mbh",
        "ag",
        "kg",
        "kgaa",
        "ohg",
        "ug",
        "ev",
        "se",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "bv",
        "nv",
        "oy",
        "oyj",
        "ab",
        "as",
        "asa",
        "aps",
        "pty",
        "pvt",
        "kk",
        "sl",
        "sp",
        "zoo",
        "group",
        "holding",
        "holdings",
    }
)

# Weights of the signals (a score is their sum, kept within 0..1).
EMAIL_WEIGHT = 0.55
PHONE_WEIGHT = 0.30
NAME_WEIGHT = 0.40
COMPANY_WEIGHT = 0.15
NAME_CONFLICT_PENALTY = 0.35
EMAIL_CONFLICT_PENALTY = 0.15
COMPANY_CONFLICT_PENALTY = 0.10
#: Names at least this similar are "the same name" (typos, nicknames, initials).
NAME_CLOSE = 0.80
#: Company names at least this similar are one company (``company_similarity``).
COMPANY_CLOSE = 0.80


def same_threshold() -> float:
    return getattr(settings, "MATCH_SAME_SCORE", 0.70)


def likely_threshold() -> float:
    return getattr(settings, "MATCH_LIKELY_SCORE", 0.35)


# --- normalising -----------------------------------------------------------------------------


#: ``fold`` for text that is ASCII already: apostrophes and dots dropped, other punctuation a space.
_ASCII_FOLD = str.maketrans(
    {
        **{
            ch: " " for ch in map(chr, range(128)) if ch not in string.ascii_letters + string.digits
        },
        **dict.fromkeys("'`.", None),
    }
)


@functools.lru_cache(maxsize=1 << 16)
def fold(text: str) -> str:
    """ASCII lower case, letters and digits only, single spaces: ``"  Zoë O'Brien-Smith"`` →
    ``"zoe obrien smith"`` (apostrophes and dots join; other punctuation separates)."""
    text = text or ""
    if text.isascii():  # most names: the same result without transliterating
        return " ".join(text.lower().translate(_ASCII_FOLD).split())
    text = anyascii(unicodedata.normalize("NFC", text)).lower()
    text = re.sub(r"['’`.]", "", text)
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def email_key(email: str) -> str:
    """The mailbox an address delivers to: ``J.Ane+News@GoogleMail.com`` → ``jane@gmail.com``."""
    email = (email or "").strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        return email
    domain = EMAIL_DOMAIN_ALIASES.get(domain, domain)
    domain = getattr(settings, "MATCH_EMAIL_DOMAIN_ALIASES", {}).get(domain, domain)
    local = local.split("+", 1)[0] or local
    if domain in DOTLESS_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def email_company_domain(email: str) -> str:
    """The domain of a work address (``anna@acme.example`` → ``acme.example``); "" for free mail."""
    domain = (email or "").rpartition("@")[2].strip().lower()
    return "" if not domain or domain in FREE_MAIL_DOMAINS else domain


def phone_key(phone: str, region: str | None = None) -> str:
    """E.164, or "" when the text is no valid number (a matching key never raises)."""
    if not phone:
        return ""
    if phone.startswith("+") and phone[1:].isdigit():
        return phone  # stored numbers are E.164 already
    try:
        return normalize_phone(phone, region or None)
    except ValidationError:  # a bad number is simply no key
        return ""


@functools.lru_cache(maxsize=1 << 16)
def company_key(name: str) -> str:
    """A company name without legal forms, punctuation and case: ``"ACME, Inc."`` → ``"acme"``."""
    words = fold((name or "").replace("&", " and ")).split()
    if words and words[0] == "the":
        words = words[1:]
    while len(words) > 1 and words[-1] in LEGAL_FORMS:
        words.pop()
    return " ".join(words)


@functools.cache
def _nicknamer():
    from nicknames import NickNamer

    return NickNamer()


@functools.cache
def name_variants(first: str) -> frozenset[str]:
    """A folded first name with its nicknames and the names it is a nickname of."""
    if not first:
        return frozenset()
    names = _nicknamer()
    return frozenset({first} | names.nicknames_of(first) | names.canonicals_of(first))


def nicknames_agree(a: str, b: str) -> bool:
    return a in name_variants(b) or b in name_variants(a)


@functools.lru_cache(maxsize=1 << 16)
def soundex(word: str) -> str:
    """American Soundex of a folded word (``smith``, ``smyth`` → ``s530``): surname typos and
    spelling variants share a code."""
    word = "".join(ch for ch in word if ch.isalpha())
    if not word:
        return ""
    codes = {
        **dict.fromkeys("bfpv", "1"),
        **dict.fromkeys("cgjkqsxz", "2"),
        **dict.fromkeys("dt", "3"),
        "l": "4",
        **dict.fromkeys("mn", "5"),
        "r": "6",
    }
    result, last = word[0], codes.get(word[0], "")
    for ch in word[1:]:
        code = codes.get(ch, "")
        if code and code != last:
            result += code
        if ch not in "hw":
            last = code
    return (result + "000")[:4]


@functools.lru_cache(maxsize=1 << 16)
def jaro_winkler(a: str, b: str) -> float:
    """Jaro-Winkler similarity (1.0 equal … 0.0 nothing alike), the usual measure for names."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    a_hit, b_hit = [False] * len(a), [False] * len(b)
    matches = 0
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not b_hit[j] and b[j] == ch:
                a_hit[i] = b_hit[j] = True
                matches += 1
                break
    if not matches:
        return 0.0
    a_seq = [ch for ch, hit in zip(a, a_hit, strict=True) if hit]
    b_seq = [ch for ch, hit in zip(b, b_hit, strict=True) if hit]
    transpositions = sum(x != y for x, y in zip(a_seq, b_seq, strict=True)) / 2
    jaro = (matches / len(a) + matches / len(b) + (matches - transpositions) / matches) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)


def jaro_winkler_ceiling(a: str, b: str) -> float:
    """At least ``jaro_winkler(a, b)``, computed in C: rapidfuzz's Jaro counts half of an odd
    number of transpositions down (ours keeps the half), so it is never below ours, and the
    prefix bonus is ours. For telling cheaply which pairs cannot be alike."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    jaro = Jaro.similarity(a, b)
    return jaro + min(Prefix.similarity(a, b), 4) * 0.1 * (1 - jaro)


@functools.lru_cache(maxsize=1 << 16)
def company_similarity(a: str, b: str) -> float:
    """How alike two company keys are: equal, one typo apart (0.95), else by trigrams (so
    "Umbrella Lake" and "Umbrella Red" stay apart, as Jaro-Winkler's shared prefix would not)."""
    if a == b:
        return 1.0
    if one_edit_apart(a, b) and min(len(a), len(b)) >= 4:
        return 0.95
    return trigram_similarity(a, b)


def one_edit_apart(a: str, b: str) -> bool:
    """One letter added, dropped, changed, or two neighbours swapped (Jon/John, Jonathan/Jonathon)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return a == b
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    if len(a) > len(b):
        a, b = b, a
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    return a[i:] == b[i + 1 :]


def trigram_similarity(a: str, b: str) -> float:
    """pg_trgm's ``similarity()`` computed here (shared trigrams over all trigrams of the padded
    words), for the same judgement with or without the database."""
    left, right = _trigrams(a), _trigrams(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


@functools.lru_cache(maxsize=1 << 16)
def _trigrams(text: str) -> frozenset[str]:
    result = set()
    for word in text.split():
        padded = f"  {word} "
        result.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(result)


# --- people ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """What matching reads of a lead or contact (all fields normalised at construction)."""

    first: str = ""
    last: str = ""
    email: str = ""
    phone: str = ""
    company: str = ""
    domain: str = ""
    raw_email: str = ""
    # Read off the fields once, not at every comparison.
    first_word: str = field(default="", init=False, repr=False, compare=False)
    last_words: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)
    last_has_digit: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "first_word", self.first.split()[0] if self.first else "")
        object.__setattr__(self, "last_words", tuple(self.last.split()))
        object.__setattr__(self, "last_has_digit", any(ch.isdigit() for ch in self.last))

    @classmethod
    def of(
        cls,
        *,
        first_name="",
        last_name="",
        email="",
        phone="",
        company_name="",
        website="",
        country="",
    ) -> "Person":
        return cls(
            first=fold(first_name),
            last=fold(last_name),
            email=email_key(email),
            phone=phone_key(phone, str(country or "") or None),
            company=company_key(company_name),
            domain=normalize_domain(website) or email_company_domain(email),
            raw_email=(email or "").strip().lower(),
        )

    @classmethod
    def of_record(cls, record) -> "Person":
        """A lead (or anything with its field names) or a contact."""
        return cls.of(
            first_name=getattr(record, "first_name", ""),
            last_name=getattr(record, "last_name", ""),
            email=getattr(record, "email", ""),
            phone=getattr(record, "phone", ""),
            company_name=getattr(record, "company_name", ""),
            website=getattr(record, "website", ""),
            country=getattr(record, "country", ""),
        )

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}".strip()


@dataclass
class Match:
    """The judgement on one pair: outcome, score and the reasons, in words."""

    outcome: str = DIFFERENT
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)

    @property
    def is_same(self) -> bool:
        return self.outcome == SAME

    @property
    def is_likely(self) -> bool:
        return self.outcome == LIKELY

    def describe(self) -> str:
        return ", ".join(self.reasons)

    def __bool__(self):
        return self.outcome != DIFFERENT


def name_similarity(a: Person, b: Person) -> tuple[float, str]:
    """How alike two people's names are (0..1), and a note on why ("nickname")."""
    if not a.last or not b.last:
        return 0.0, ""
    note = ""
    if not a.first or not b.first:
        first = 0.9
    elif a.first == b.first:
        first = 1.0
    elif nicknames_agree(a.first_word, b.first_word):
        first, note = 1.0, "nickname"
    elif (len(a.first) == 1 or len(b.first) == 1) and a.first[0] == b.first[0]:
        first, note = 0.9, "initial"
    elif min(len(a.first), len(b.first)) >= 3 and one_edit_apart(a.first, b.first):
        first, note = 0.92, "spelling"
    else:
        first = jaro_winkler(a.first, b.first) * 0.8  # Peter is not Petra
    if a.last_has_digit or b.last_has_digit:
        last = float(a.last == b.last)  # "L1" and "L10" are labels, not spellings
    else:
        last = jaro_winkler(a.last, b.last)
    if a.last != b.last and (a.last in b.last_words or b.last in a.last_words):
        last = max(last, 0.9)  # a double name against one of its parts
    direct = first * last
    if a.first and b.first:
        swapped = jaro_winkler(a.first, b.last) * jaro_winkler(a.last, b.first)
        if swapped > direct and swapped >= NAME_CLOSE:
            return swapped, "first and last name swapped"
    return direct, note


def person_compare(a: Person, b: Person) -> Match:
    """Whether ``a`` and ``b`` are the same person: outcome, score and reasons."""
    score, reasons = 0.0, []
    email_same = bool(a.email and a.email == b.email)
    email_conflict = bool(a.email and b.email and a.email != b.email)
    if email_same:
        score += EMAIL_WEIGHT
        same_text = a.raw_email == b.raw_email
        reasons.append("same email" if same_text else "same email (written differently)")
    elif email_conflict:
        score -= EMAIL_CONFLICT_PENALTY
        reasons.append("different emails")
    phone_same = bool(a.phone and a.phone == b.phone)
    if phone_same:
        score += PHONE_WEIGHT
        reasons.append("same phone")
    similarity, note = name_similarity(a, b)
    name_close = similarity >= NAME_CLOSE
    name_conflict = bool(a.last and b.last) and not name_close
    if name_close:
        score += NAME_WEIGHT * min(1.0, similarity + 0.1)  # a typo costs little
        text = "same name" if similarity >= 0.999 else f"similar name {similarity:.2f}"
        reasons.append(f"{text} ({note})" if note else text)
    elif name_conflict:
        score -= NAME_CONFLICT_PENALTY
        reasons.append(f"different names {similarity:.2f}")
    company_same = bool(a.company and b.company) and (
        company_similarity(a.company, b.company) >= COMPANY_CLOSE
    )
    domain_same = bool(a.domain and a.domain == b.domain)
    if company_same or domain_same:
        score += COMPANY_WEIGHT
        reasons.append("same company" if company_same else "same company domain")
    elif a.company and b.company:
        score -= COMPANY_CONFLICT_PENALTY  # namesakes at other firms are the usual case
        reasons.append("different companies")
    score = round(min(max(score, 0.0), 1.0), 2)
    if score >= same_threshold():
        outcome = SAME
    elif score >= likely_threshold():
        outcome = LIKELY
    else:
        outcome = DIFFERENT
    if email_same and outcome != SAME:
        # A personal address is the person's own (a name typed differently, a married name);
        # a team mailbox (info@) with another name is not.
        role = a.email.partition("@")[0] in ROLE_MAILBOXES
        outcome = LIKELY if role and name_conflict else SAME
        if outcome == SAME:
            score = max(score, same_threshold())
    if email_conflict and outcome == SAME:
        outcome = LIKELY  # different addresses: a person decides
    if not email_same and outcome == SAME and sum((phone_same, name_close, company_same)) < 2:
        outcome = LIKELY  # one weak signal never makes two people the same
    return Match(outcome=outcome, score=score, reasons=reasons)


def person_match(a: Person, b: Person) -> Match | None:
    """``person_compare(a, b)`` when it is "same" or "likely", else None.

    Most pairs a blocking key brings together are different people, and most of those are told
    apart by bounds alone: what email, phone and company give, plus the most a name can add
    (``NAME_WEIGHT``), stays below "likely"; or the names are surely not close (Jaro-Winkler
    bounded from above in C), so they conflict and cost ``NAME_CONFLICT_PENALTY``. Only the
    rest are judged in full, so the outcome, score and reasons are ``person_compare``'s.
    """
    if not _may_match(a, b):
        return None
    judged = person_compare(a, b)
    return judged if judged.outcome != DIFFERENT else None


#: Added to every upper bound, so that float rounding never turns a bound into an underestimate.
_BOUND_SLACK = 1e-9


def _may_match(a: Person, b: Person) -> bool:
    """False only where ``person_compare`` certainly says "different" (see ``person_match``)."""
    if a.email and a.email == b.email:
        return True  # the same personal address is never "different"
    base = -EMAIL_CONFLICT_PENALTY if a.email and b.email else 0.0
    if a.phone and a.phone == b.phone:
        base += PHONE_WEIGHT
    if (a.domain and a.domain == b.domain) or (
        a.company and b.company and company_similarity(a.company, b.company) >= COMPANY_CLOSE
    ):
        base += COMPANY_WEIGHT
    elif a.company and b.company:
        base -= COMPANY_CONFLICT_PENALTY
    likely = likely_threshold()

    def reaches(score: float) -> bool:  # the rounding and clamping of ``person_compare``
        return round(min(max(score + _BOUND_SLACK, 0.0), 1.0), 2) >= likely

    if not reaches(base + NAME_WEIGHT):
        return False  # not even the same name would make it likely
    if not (a.last and b.last):
        return reaches(base)  # no name to agree or conflict
    if reaches(base - NAME_CONFLICT_PENALTY):
        return True
    return _names_may_be_close(a, b)


def _names_may_be_close(a: Person, b: Person) -> bool:
    """An upper bound of ``name_similarity`` reaches ``NAME_CLOSE`` (both surnames given)."""
    if not a.first or not b.first:
        first = 0.9
    elif a.first == b.first or nicknames_agree(a.first_word, b.first_word):
        first = 1.0
    elif (len(a.first) == 1 or len(b.first) == 1) and a.first[0] == b.first[0]:
        first = 0.9
    elif min(len(a.first), len(b.first)) >= 3 and one_edit_apart(a.first, b.first):
        first = 0.92
    else:
        first = jaro_winkler_ceiling(a.first, b.first) * 0.8
    if a.last_has_digit or b.last_has_digit:
        last = float(a.last == b.last)
    else:
        last = jaro_winkler_ceiling(a.last, b.last)
    if a.last != b.last and (a.last in b.last_words or b.last in a.last_words):
        last = max(last, 0.9)
    bound = first * last
    if a.first and b.first and bound + _BOUND_SLACK < NAME_CLOSE:
        left = jaro_winkler_ceiling(a.first, b.last)
        if left + _BOUND_SLACK >= NAME_CLOSE:
            bound = max(bound, left * jaro_winkler_ceiling(a.last, b.first))
    return bound + _BOUND_SLACK >= NAME_CLOSE


def person_keys(person: Person) -> list[str]:
    """Blocking keys: two people who may be the same share at least one of them.

    ``e:`` the mailbox, ``p:`` the phone, ``n:`` each variant of the first name (nicknames)
    with the surname's Soundex, ``c:`` company and surname, ``f:`` first name and company (a
    surname typo at the same company), ``d:`` company domain and surname.
    """
    keys = []
    if person.email:
        keys.append(f"e:{person.email}")
    if person.phone:
        keys.append(f"p:{person.phone}")
    last = person.last.split()[-1] if person.last else ""
    sound = soundex(last)
    if sound:
        first = person.first.split()[0] if person.first else ""
        for variant in sorted(name_variants(first)) or [""]:
            keys.append(f"n:{variant} {sound}"[:100])
        if person.company:
            keys.append(f"c:{person.company} {last}"[:100])
            if first:
                keys.append(f"f:{first} {person.company}"[:100])
        if person.domain:
            keys.append(f"d:{person.domain} {last}"[:100])
    return keys


def person_name_key(person: Person) -> str:
    """The folded full name, for the trigram index (similar names among saved records)."""
    return person.name[:200]


# --- companies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Company:
    name: str = ""
    domain: str = ""
    country: str = ""

    @classmethod
    def of(cls, *, name="", domain="", country="") -> "Company":
        return cls(
            name=company_key(name), domain=normalize_domain(domain), country=str(country or "")
        )


def company_compare(a: Company, b: Company) -> Match:
    """Whether two accounts are one company: the same domain and a similar name are the same;
    one of them alone is likely (subsidiaries share domains, namesakes share names)."""
    score, reasons = 0.0, []
    domain_same = bool(a.domain and a.domain == b.domain)
    domain_conflict = bool(a.domain and b.domain and a.domain != b.domain)
    if domain_same:
        score += 0.45
        reasons.append("same domain")
    elif domain_conflict:
        score -= 0.15
        reasons.append("different domains")
    similarity = company_similarity(a.name, b.name) if a.name and b.name else 0.0
    if similarity >= COMPANY_CLOSE:
        score += 0.45 * similarity
        reasons.append("same name" if similarity >= 0.999 else f"similar name {similarity:.2f}")
    elif a.name and b.name:
        score -= 0.2
        reasons.append(f"different names {similarity:.2f}")
    if a.country and b.country and a.country != b.country:
        score -= 0.1
        reasons.append("different countries")
    score = round(min(max(score, 0.0), 1.0), 2)
    outcome = (
        SAME if score >= same_threshold() else LIKELY if score >= likely_threshold() else DIFFERENT
    )
    if outcome == SAME and not (domain_same and similarity >= COMPANY_CLOSE):
        outcome = LIKELY
    return Match(outcome=outcome, score=score, reasons=reasons)


def company_keys(company: Company) -> list[str]:
    keys = []
    if company.domain:
        keys.append(f"d:{company.domain}")
    if company.name:
        keys.append(f"c:{company.name}"[:100])
        first_word = company.name.split()[0]
        keys.append(f"w:{first_word}"[:100])
    return keys


# --- stored keys -----------------------------------------------------------------------------


def match_fields(record) -> dict:
    """The stored matching columns of a lead, contact (a person) or account (a company)."""
    if hasattr(record, "last_name"):
        person = Person.of_record(record)
        return {"match_keys": person_keys(person), "match_name": person_name_key(person)}
    company = Company.of(
        name=getattr(record, "name", ""),
        domain=getattr(record, "domain", ""),
        country=getattr(record, "country", ""),
    )
    return {"match_keys": company_keys(company), "match_name": company.name[:200]}


def match_fields_set(record) -> list[str]:
    """Set a record's matching columns from its fields; the names of those that changed (for
    ``save(update_fields=...)``)."""
    changed = []
    for name, value in match_fields(record).items():
        if getattr(record, name, None) != value:
            setattr(record, name, value)
            changed.append(name)
    return changed
