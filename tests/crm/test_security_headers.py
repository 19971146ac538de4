"""The Content-Security-Policy and the other security headers: on every HTML page, with a fresh
nonce that every script of the page carries, no 'unsafe-inline' or 'unsafe-eval' for scripts,
and no markup the policy would refuse (inline handlers, style attributes, javascript: links)."""

import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from crm.models import User
from leads.models import Campaign
from tests.factories.leads import CampaignFactory
from tests.pages import ROLES, pages_for, public_pages

pytestmark = pytest.mark.django_db

BASE_DIR = Path(settings.BASE_DIR)


def directives(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    parsed = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


def assert_secure_html(response, *, framable=False):
    """The headers every HTML page carries, and the page's scripts all carry its nonce."""
    policy = directives(response)
    assert policy, "no Content-Security-Policy header"
    script_src = policy["script-src"]
    nonces = [s for s in script_src if s.startswith("'nonce-")]
    assert len(nonces) == 1, script_src
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "'unsafe-inline'" not in policy["style-src"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == (["*"] if framable else ["'none'"])
    nonce = nonces[0][len("'nonce-") : -1]
    html = response.content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        # Files of our own origin are allowed by 'self'; data for scripts (json_script) never
        # runs; any other script must carry the nonce.
        if " src=" in tag or 'type="application/json"' in tag:
            continue
        assert f'nonce="{nonce}"' in tag, tag
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    if framable:
        assert "X-Frame-Options" not in response
        assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    else:
        assert response["X-Frame-Options"] == "DENY"
        assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    return nonce


@pytest.fixture
def demo():
    call_command("seed_demo", "--scale", "0.05", "--force", stdout=io.StringIO())


def test_every_main_page_of_the_demo_carries_the_policy_and_the_headers(demo):
    nonces = set()
    for username in ROLES:
        client = Client()
        client.force_login(User.objects.get(username=username))
        for label, path in pages_for(username):
            response = client.get(path)
            assert response.status_code == 200, (username, label, path)
            nonces.add(assert_secure_html(response))
    web_form_paths = {
        reverse(name, args=[slug])
        for name in ("leads:web_form", "leads:web_form_thanks")
        for slug in Campaign.objects.values_list("slug", flat=True)
    }
    for label, path in public_pages():
        response = Client().get(path)
        assert response.status_code == 200, (label, path)
        nonces.add(assert_secure_html(response, framable=path in web_form_paths))
    # A fresh nonce for every response.
    assert len(nonces) > 100


def _paths_without_arguments(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if pattern.namespace != "admin":
                yield from _paths_without_arguments(pattern, route)
        elif isinstance(pattern, URLPattern) and "<" not in route and "(" not in route:
            yield "/" + route.lstrip("^").rstrip("$")


def test_every_html_answer_of_every_url_carries_the_policy(admin, client):
    """Lists, forms, HTMX fragments, error pages: whatever answers with HTML has the header."""
    client.force_login(admin)
    checked = 0
    for path in [*_paths_without_arguments(), "/no-such-page/", "/accounts/999999999/"]:
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(path, headers=headers)
            if response.get("Content-Type", "").startswith("text/html"):
                assert_secure_html(response)
                checked += 1
    assert checked > 80


def test_error_pages_carry_the_policy():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert "'nonce-" in response["Content-Security-Policy"]


def test_the_web_form_may_be_framed_only_by_the_configured_sites():
    campaign = CampaignFactory(slug="webinar", is_active=True)
    response = Client().get(reverse("leads:web_form", args=[campaign.slug]))
    assert directives(response)["frame-ancestors"] == ["*"]
    assert "X-Frame-Options" not in response
    with override_settings(WEB_FORM_FRAME_ANCESTORS=["https://www.example.com"]):
        response = Client().get(reverse("leads:web_form", args=[campaign.slug]))
    assert directives(response)["frame-ancestors"] == ["https://www.example.com"]
    # Every other public page refuses to be framed.
    response = Client().get(reverse("support:public_new"))
    assert directives(response)["frame-ancestors"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"


def test_static_files_are_not_sniffed_and_stay_same_origin(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("crm/favicon.ico")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


EVENTS = r"on(?:click|dblclick|change|submit|input|load|error|focus|blur|key[a-z]+|mouse[a-z]+)"

# What the policy refuses, as it would appear in markup: an inline event handler, a style
# attribute or element, a javascript: URL, htmx's eval-based attributes, a script without the
# page's nonce.
FORBIDDEN_IN_TEMPLATES = {
    "inline event handler": re.compile(rf"\s{EVENTS}\s*=", re.IGNORECASE),
    "style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "style element": re.compile(r"<style\b", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
    "hx-on attribute": re.compile(r"\shx-on", re.IGNORECASE),
    "js: or javascript: in hx-vals": re.compile(r"hx-(vals|vars)\s*=\s*['\"]\s*js:", re.I),
    "script without the nonce": re.compile(r"<script\b(?![^>]*nonce=)(?![^>]*application/json)"),
}
# Python that renders markup for pages (widgets, tables, filter forms): no style or handlers.
FORBIDDEN_IN_PYTHON = {
    "style attribute": re.compile(r"""["']style["']\s*:|\sstyle\s*=\s*\\?["']"""),
    "inline event handler": re.compile(rf"""["']{EVENTS}["']\s*:|\s{EVENTS}\s*=\s*\\?["']"""),
    "javascript: URL": re.compile(r"javascript:"),
}
# Email bodies are read in mail clients, not under our policy.
EMAIL_BUILDERS = {"leads/services/sequences.py", "leads/campaigns/services/sending.py"}


def _trigger_filters(text: str) -> list[str]:
    """hx-trigger values with an event filter (``click[ctrlKey]``, ``every 60s [cond]``), which
    htmx evaluates as JavaScript; a ``from:`` selector's brackets are CSS, not a filter."""
    found = []
    for value in re.findall(r'hx-trigger\s*=\s*"([^"]*)"', text):
        if "[" in re.sub(r"from:\S+", "", value):
            found.append(value)
    return found


def test_no_template_or_page_markup_needs_unsafe_inline():
    found = []
    for path in sorted((BASE_DIR / "templates").rglob("*.html")):
        text = path.read_text()
        for what, pattern in FORBIDDEN_IN_TEMPLATES.items():
            found += [f"{path.relative_to(BASE_DIR)}: {what}" for _ in pattern.finditer(text)]
        found += [
            f"{path.relative_to(BASE_DIR)}: hx-trigger filter {v}" for v in _trigger_filters(text)
        ]
    for app in ("crm", "leads", "sales", "support", "retention", "analytics"):
        for path in sorted((BASE_DIR / app).rglob("*.py")):
            relative = str(path.relative_to(BASE_DIR))
            if "/migrations/" in relative or "/settings/" in relative or relative in EMAIL_BUILDERS:
                continue
            text = path.read_text()
            for what, pattern in FORBIDDEN_IN_PYTHON.items():
                found += [f"{relative}: {what}" for _ in pattern.finditer(text)]
    assert found == []
