"""Addresses taken from a request (``next`` on Cancel links and after POSTs) stay on this site:
a script URL, another host in any spelling, or an unparseable value falls back to the page's
own default; a local path is kept."""

import html

import pytest
from django.urls import reverse

from crm.choices import Role
from tests.factories import AccountFactory, TaskFactory, UserFactory
from tests.factories.leads import LeadFactory
from tests.factories.retention import RecommendationFactory

pytestmark = pytest.mark.django_db

HOSTILE = [
    "javascript:alert(document.cookie)",
    " JavaScript:alert(1)",
    "//evil.example/steal",
    "https://evil.example/steal",
    "\\\\evil.example\\steal",
    "/\\evil.example",
    "http:evil.example",
]
LOCAL = "/accounts/?q=acme&page=2"

FORMS_WITH_CANCEL = [
    "account_create",
    "contact_create",
    "leads:lead_create",
    "sales:opportunity_create",
    "retention:subscription_create",
]


def _cancel_href(response) -> str:
    body = response.content.decode()
    marker = body.index(">Cancel</a>")
    start = body.rindex('href="', 0, marker) + len('href="')
    return html.unescape(body[start : body.index('"', start)])


@pytest.mark.parametrize("name", FORMS_WITH_CANCEL)
@pytest.mark.parametrize("target", HOSTILE)
def test_cancel_link_never_leaves_the_site(rep_client, name, target):
    response = rep_client.get(reverse(name), {"next": target})
    assert response.status_code == 200
    assert _cancel_href(response) == "/"
    assert "evil.example" not in response.content.decode().split(">Cancel</a>")[0][-200:]
    assert "javascript:" not in response.content.decode().lower()


@pytest.mark.parametrize("name", FORMS_WITH_CANCEL)
def test_cancel_link_keeps_a_local_path(rep_client, name):
    response = rep_client.get(reverse(name), {"next": LOCAL})
    assert _cancel_href(response) == LOCAL


def _posts(rep):
    """(url, data, the page's own default) of every POST that redirects to ``next``."""
    task = TaskFactory(assignee=rep)
    recommendation = RecommendationFactory(account=AccountFactory(owner=rep))
    LeadFactory(owner=rep)
    return [
        (reverse("task_toggle", args=[task.pk]), {}, "/"),
        (reverse("leads:lead_bulk"), {"action": "delete"}, reverse("leads:lead_list")),
        (
            reverse("retention:recommendation_dismiss", args=[recommendation.pk]),
            {},
            reverse("retention:upsell"),
        ),
    ]


@pytest.mark.parametrize("target", [*HOSTILE, LOCAL])
def test_post_next_redirects_only_inside_the_site(client, target):
    rep = UserFactory(roles=[Role.SALES_REP])
    client.force_login(rep)
    for url, data, default in _posts(rep):
        response = client.post(url, {**data, "next": target})
        assert response.status_code == 302, url
        expected = LOCAL if target == LOCAL else default
        assert response["Location"] == expected, (url, target)


@pytest.mark.parametrize("target", [*HOSTILE, LOCAL])
def test_ticket_bulk_next_stays_inside_the_site(agent_client, target):
    response = agent_client.post(reverse("support:ticket_bulk"), {"next": target})
    assert response.status_code == 302
    expected = LOCAL if target == LOCAL else reverse("support:ticket_list")
    assert response["Location"] == expected


def test_secure_pages_refuse_plain_http_targets(rep_client):
    response = rep_client.get(
        reverse("account_create"), {"next": "http://testserver/accounts/"}, secure=True
    )
    assert _cancel_href(response) == "/"
