"""Normalisation of the identifiers customers are matched on (email, phone, website domain)."""

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError


def normalize_email(value: str) -> str:
    return (value or "").strip().lower()


def normalize_phone(value: str, region: str | None = None) -> str:
    """E.164 (``+4930123456``) or ValidationError; an empty value stays empty.

    Numbers without a country prefix are read in ``region`` (the contact's country when known),
    else in ``PHONE_DEFAULT_REGION``.
    """
    value = (value or "").strip()
    if not value:
        return ""
    region = (region or getattr(settings, "PHONE_DEFAULT_REGION", "") or "US").upper()
    e164, problem = _phone_in_region(value, region)
    if problem:
        raise ValidationError(problem, code="phone")
    return e164


def phone_is_valid(phone: str, region: str = "") -> bool:
    """Whether ``phone`` is a valid number (read in ``region`` when it has no ``+`` prefix).

    A number this process has just normalised is known valid without parsing it again: an import
    normalises every row's phone, then scores the row's quality on the E.164 form."""
    phone = (phone or "").strip()
    if not phone:
        return False
    if phone in _valid_e164:
        return True
    if _known_valid is not None and _known_valid.fullmatch(phone):
        return True
    region = (region or getattr(settings, "PHONE_DEFAULT_REGION", "") or "US").upper()
    return not _phone_in_region(phone, region)[1]


#: Numbers taken as valid without parsing, while ``phones_known_valid`` is in force.
_known_valid: re.Pattern | None = None


@contextmanager
def phones_known_valid(pattern: re.Pattern) -> Iterator[None]:
    """Within the block, a number that fully matches ``pattern`` is valid without parsing it:
    for numbers made valid by construction (the demo seed's, whose prefixes are checked against
    libphonenumber in the tests), where parsing a million of them is most of a rescore."""
    global _known_valid
    previous, _known_valid = _known_valid, pattern
    try:
        yield
    finally:
        _known_valid = previous


#: E.164 forms of numbers found valid, bounded like the parse cache.
_valid_e164: set[str] = set()
_VALID_E164_MAX = 1 << 16


@functools.lru_cache(maxsize=1 << 16)
def _phone_in_region(value: str, region: str) -> tuple[str, str]:
    """(E.164, "") or ("", what is wrong): parsing and validating a number costs tens of
    microseconds, and a large import repeats numbers (a switchboard, a company's main line)."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        return "", f"“{value}” is not a phone number ({exc})."
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        return "", f"“{value}” is not a valid phone number."
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if len(_valid_e164) >= _VALID_E164_MAX:
        _valid_e164.clear()
    _valid_e164.add(e164)
    return e164, ""


def normalize_domain(value: str) -> str:
    """``https://www.Example.com/about`` → ``example.com``."""
    value = (value or "").strip().lower()
    if not value:
        return ""
    if "//" not in value:
        value = "//" + value
    try:
        host = urlsplit(value).hostname or ""
    except ValueError:  # not a URL at all, e.g. "[x]" (a bracketed host that is no address)
        return ""
    return host.removeprefix("www.")


@functools.cache
def country_codes() -> dict[str, str]:
    """Lower-case code, alpha-3 code and English name → ISO code (built once: looking names up
    one by one in django-countries costs milliseconds a row)."""
    from django_countries import countries

    table = {}
    for code, name in countries:
        table[code.lower()] = code
        table[str(name).lower()] = code
        alpha3 = countries.alpha3(code)
        if alpha3:
            table[alpha3.lower()] = code
    return table
