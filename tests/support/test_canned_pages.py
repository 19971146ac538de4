"""Canned reply pages: agents read the list, managers and admins write, nobody else sees them."""

import pytest
from django.urls import reverse

from support.models import CannedReply
from tests.factories.support import CannedReplyFactory
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client, support_manager):
    client.force_login(support_manager)
    return client


def test_manager_creates_edits_and_deletes_a_canned_reply(manager_client):
    response = manager_client.post(
        reverse("support:canned_create"),
        {"title": "Password reset", "body": "Hello {{ contact.first_name }},", "is_active": "on"},
    )
    assert response.status_code == 302
    canned = CannedReply.objects.get()
    assert (canned.title, canned.is_active) == ("Password reset", True)
    response = manager_client.post(
        reverse("support:canned_edit", args=[canned.pk]),
        {"title": "Password reset (v2)", "body": "Hi {{ contact.first_name }}!"},
    )
    assert response.status_code == 302
    canned.refresh_from_db()
    assert (canned.title, canned.body, canned.is_active) == (
        "Password reset (v2)",
        "Hi {{ contact.first_name }}!",
        False,
    )
    listing = manager_client.get(reverse("support:canned_list")).content.decode()
    assert "Password reset (v2)" in listing and reverse("support:canned_create") in listing
    assert (
        manager_client.post(reverse("support:canned_delete", args=[canned.pk])).status_code == 302
    )
    assert not CannedReply.objects.exists()


def test_a_broken_merge_field_re_renders_the_form_and_keeps_the_text(manager_client):
    response = manager_client.post(
        reverse("support:canned_create"),
        {"title": "Broken", "body": "Hello {{ contact.first_name|shout }}"},
    )
    assert response.status_code == 200
    assert "could not be read" in response.content.decode()
    assert "Hello {{ contact.first_name|shout }}" in response.content.decode()
    response = manager_client.post(
        reverse("support:canned_create"), {"title": "Sneaky", "body": "{% debug %}"}
    )
    assert response.status_code == 200 and not CannedReply.objects.exists()


def test_agents_read_the_list_but_cannot_change_it(agent_client):
    canned = CannedReplyFactory(title="Refund policy")
    listing = agent_client.get(reverse("support:canned_list"))
    assert listing.status_code == 200 and "Refund policy" in listing.content.decode()
    assert reverse("support:canned_create") not in listing.content.decode()
    assert_hidden(
        agent_client,
        get=[
            reverse("support:canned_create"),
            reverse("support:canned_edit", args=[canned.pk]),
            reverse("support:canned_delete", args=[canned.pk]),
        ],
        post=[
            (reverse("support:canned_create"), {"title": "x", "body": "y"}),
            (reverse("support:canned_edit", args=[canned.pk]), {"title": "x", "body": "y"}),
            (reverse("support:canned_delete", args=[canned.pk]), {}),
        ],
    )
    canned.refresh_from_db()
    assert canned.title == "Refund policy"


def test_reps_do_not_see_canned_replies(rep_client):
    canned = CannedReplyFactory()
    assert_hidden(
        rep_client,
        get=[reverse("support:canned_list"), reverse("support:canned_edit", args=[canned.pk])],
    )


def test_list_has_a_fixed_query_count(manager_client, django_assert_max_num_queries):
    CannedReplyFactory.create_batch(3)
    with django_assert_max_num_queries(8):
        manager_client.get(reverse("support:canned_list"))
    CannedReplyFactory.create_batch(40)
    with django_assert_max_num_queries(8):
        response = manager_client.get(reverse("support:canned_list"))
    assert len(response.context["object_list"]) == 43
