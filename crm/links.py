"""A record's page address without ``reverse()`` on every row.

``reverse()`` walks the URL patterns each time (50–90 µs); a list of 50 rows links each row and
its account, a hundred calls a page. ``record_url`` reverses a name once (per URL
configuration and script prefix) with a marker for the key and then only puts the key in.
"""

import functools

from django.urls import get_script_prefix, get_urlconf, reverse

#: Digits, so that an ``<int:pk>`` converter takes it.
_MARK = "9081726354"


@functools.lru_cache(maxsize=256)
def _parts(name: str, prefix: str, urlconf) -> tuple[str, str]:
    head, tail = reverse(name, args=[_MARK], urlconf=urlconf).split(_MARK, 1)
    return head, tail


def record_url(name: str, pk) -> str:
    """``reverse(name, args=[pk])`` for a URL whose only argument is the record's key."""
    head, tail = _parts(name, get_script_prefix(), get_urlconf())
    return f"{head}{int(pk)}{tail}"


def record_url_maker(name: str):
    """``record_url`` for the rows of one page: the name and the request's URL settings are
    looked up once, then each call only puts the key in."""
    head, tail = _parts(name, get_script_prefix(), get_urlconf())
    return lambda pk: f"{head}{int(pk)}{tail}"
