"""Malformed input never answers 500: every page without a record in its URL, and the pages of
a few records, are opened as each role; every form and HTMX endpoint found on them (filter bars,
create and edit forms, pickers, bulk actions) is sent bad values in every field at once, and
every URL that takes a record's id is asked for ids out of range. Each answer must be below 500
(a 400, a form error, a 404, a redirect, or a page that ignores the value).

A failure lists each request that answered 500 with the exception it raised."""

import re
import sys
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import got_request_exception
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.factories import AccountFactory, ContactFactory, TaskFactory
from tests.factories.leads import LeadFactory
from tests.factories.sales import OpportunityFactory
from tests.factories.support import TicketFactory

BAD_VALUES = [
    "abc",
    str(10**30),
    "-1",
    "0",
    "",
    "1.5",
    "1e309",
    "NaN",
    "ünï©ødé 日本 💥",
    "x" * 5000,
    "2024-13-45",
    "2024-02-30T25:61",
    "\x00",
    "1,2,abc",
    "[]",
]
# Also sent as HTMX requests (which answer a fragment through the same code).
HTMX_VALUES = {"abc", str(10**30), "\x00"}
PAGE_VALUES = [str(10**12), "abc", "-3", str(10**30), "0"]
HUGE_IDS = [10**12, 10**19, 2**63]
# Never sent: signing out would end the walk; deleting would take the walk's records away.
# Signing out (here or everywhere) would end the walk's own session; allauth's account pages
# (password, second factor, sessions) have tests of their own in tests/crm/test_signin.py.
SKIPPED = ("/logout/", "/delete/", "/admin/", "/auth/", "/me/sign-out-everywhere/")


class FormFinder(HTMLParser):
    """The forms and HTMX endpoints of a page, each with the names of its fields."""

    def __init__(self):
        super().__init__()
        self.forms = []  # [method, action, names, id]
        self.by_id = {}
        self.current = None
        self.stray = []  # (form id, name) of fields outside their form
        self.endpoints = []  # (method, url)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.current = [
                (attrs.get("method") or "get").lower(),
                attrs.get("action") or "",
                set(),
                attrs.get("id"),
            ]
            self.forms.append(self.current)
            if attrs.get("id"):
                self.by_id[attrs["id"]] = self.current
        name = attrs.get("name")
        if tag in ("input", "select", "textarea", "button") and name:
            if attrs.get("type") == "file":
                pass
            elif attrs.get("form"):
                self.stray.append((attrs["form"], name))
            elif self.current is not None:
                self.current[2].add(name)
        for attribute, method in (("hx-get", "get"), ("hx-post", "post")):
            if attrs.get(attribute):
                self.endpoints.append((method, attrs[attribute]))
        if attrs.get("data-autocomplete-url"):
            self.endpoints.append(("get", attrs["data-autocomplete-url"]))

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None

    def targets(self, page_url):
        for form_id, name in self.stray:
            if form_id in self.by_id:
                self.by_id[form_id][2].add(name)
        every_name = set().union(*(f[2] for f in self.forms)) if self.forms else set()
        found = {}
        for method, action, names, _ in self.forms:
            found.setdefault((method, action or page_url), set()).update(names)
        for method, url in self.endpoints:
            found.setdefault((method, url), set()).update(every_name | {"q"})
        return found


def kwargless_pages(resolver=None, prefix=""):
    """The paths of every named URL without arguments (the admin's excepted)."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin" or pattern.pattern.converters:
                continue  # the admin's, or pages that all take the include's argument
            namespace = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            yield from kwargless_pages(pattern, namespace)
        elif (
            isinstance(pattern, URLPattern)
            and pattern.name
            and not pattern.pattern.converters
            and not pattern.pattern.regex.groups  # re_path()s with arguments
        ):
            yield reverse(f"{prefix}{pattern.name}")


IMPORT_KINDS = ("accounts", "contacts", "leads", "opportunities", "products", "tickets")


def _import_job(user):
    """An uploaded record import of ``user``'s, at its mapping and dry-run page."""
    from crm import registry
    from crm.tabular import imports

    upload = SimpleUploadedFile("accounts.csv", b"name,domain\nAcme,acme.example\n")
    kind = registry.tabular.get("accounts")
    return imports.tabular_import_create(user=user, kind=kind, upload=upload, mode="both")


@pytest.fixture
def records(rep, rep2, agent, manager, admin):
    account = AccountFactory(owner=rep)
    contact = ContactFactory(account=account, owner=rep)
    return [
        account,
        contact,
        LeadFactory(owner=rep),
        OpportunityFactory(owner=rep, account=account),
        TicketFactory(contact=contact),
        TaskFactory(assignee=rep).subject or account,
    ]


def _send(client, method, url, data, headers=None):
    """One request in a savepoint of its own: a database error it meets fails only it."""
    with transaction.atomic():
        if method == "post":
            return client.post(url, data, headers=headers or {})
        return client.get(url, data, headers=headers or {})


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["rep", "agent", "manager", "admin"])
def test_no_bad_value_answers_500(request, role, records):
    user = request.getfixturevalue(role)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    failures = []
    last_error = {}

    def remember(sender, request, **kwargs):
        last_error["exc"] = repr(sys.exc_info()[1])[:300]

    got_request_exception.connect(remember)
    try:
        pages = [p for p in kwargless_pages() if not p.startswith(SKIPPED)]
        pages += [r.get_absolute_url() for r in records]
        account, contact, lead, deal = records[:4]
        pages += [
            reverse("account_edit", args=[account.pk]),
            reverse("contact_edit", args=[contact.pk]),
            reverse("leads:lead_edit", args=[lead.pk]),
            reverse("sales:opportunity_edit", args=[deal.pk]),
            *(reverse("tabular_import_start", args=[kind]) for kind in IMPORT_KINDS),
        ]
        if role != "agent":
            pages.append(_import_job(user).get_absolute_url())
        seen = set()
        for page in pages:
            response = _send(client, "get", page, {})
            if response.status_code >= 500:
                failures.append(("get", page, {}, last_error.pop("exc", "")))
                continue
            if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                continue
            finder = FormFinder()
            finder.feed(response.content.decode())
            for (method, url), names in finder.targets(page).items():
                url = urlsplit(url).path or page
                if (method, url) in seen or any(s in url for s in SKIPPED):
                    continue
                seen.add((method, url))
                names = {n for n in names if n != "csrfmiddlewaretoken"}
                for value in BAD_VALUES:
                    data = dict.fromkeys(names, value)
                    if method == "get":
                        data.update(page=value, sort=value)
                    for htmx in (False, True) if value in HTMX_VALUES else (False,):
                        headers = {"HX-Request": "true"} if htmx else {}
                        answer = _send(client, method, url, data, headers)
                        if answer.status_code >= 500:
                            failures.append((method, url, value[:20], last_error.pop("exc", "")))
                if method == "get":
                    for value in PAGE_VALUES:
                        answer = _send(client, "get", url, {"page": value})
                        if answer.status_code >= 500:
                            failures.append(
                                ("get", url, {"page": value}, last_error.pop("exc", ""))
                            )
    finally:
        got_request_exception.disconnect(remember)
    if role == "admin":  # the walk reaches the forms it is meant to
        reached = {url for _, url in seen}
        expected = {
            reverse("account_list"),
            reverse("account_create"),
            reverse("leads:lead_bulk"),
            reverse("support:ticket_bulk"),
            reverse("support:ticket_list"),
            reverse("sales:opportunity_create"),
            reverse("analytics:pipeline"),
            reverse("task_create", args=["crm.account", records[0].pk]),
        }
        assert expected <= reached, f"not reached: {expected - reached}"
    unique = {(method, url, error): value for method, url, value, error in failures}
    report = "\n".join(
        f"{method.upper()} {url} (e.g. {value!r}): {error}"
        for (method, url, error), value in sorted(unique.items())
    )
    assert not failures, f"{len(failures)} requests answered 500:\n{report}"


def _path(pattern_route: str, value) -> str:
    """A concrete path of a URL route: every argument set to ``value`` (a label for str)."""

    def fill(match):
        kind = match.group(1) or "str"
        return str(value) if kind == "int" else "crm.account"

    return "/" + re.sub(r"<(?:(\w+):)?\w+>", fill, pattern_route)


def _routes(resolver=None, route=""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        full = route + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if pattern.namespace != "admin":
                yield from _routes(pattern, full)
        elif "<int:" in full:
            yield full


@pytest.mark.django_db
def test_ids_out_of_range_answer_404_not_500(admin):
    client = Client(raise_request_exception=False)
    client.force_login(admin)
    failures = []
    for route in _routes():
        for value in HUGE_IDS:
            path = _path(route, value)
            if any(s in path for s in ("/logout/",)):
                continue
            for method in ("get", "post"):
                answer = _send(client, method, path, {})
                if answer.status_code >= 500:
                    failures.append(f"{method.upper()} {path}")
    assert not failures, failures


BULK_IDS = ["abc", "-1", "0", str(10**19), str(2**63), str(10**30), "1.5", "²", "١", "", "\x00"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["rep", "manager", "agent"])
def test_bulk_actions_with_bad_ids_answer_a_message(request, role):
    user = request.getfixturevalue(role)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    posts = [
        (reverse("leads:lead_bulk"), "ids", {"action": "delete"}),
        (reverse("support:ticket_bulk"), "tickets", {"action": "unassign"}),
    ]
    for url, field, data in posts:
        for value in BULK_IDS:
            answer = _send(client, "post", url, {**data, field: [value, "1"]})
            assert answer.status_code < 500, (url, value)
