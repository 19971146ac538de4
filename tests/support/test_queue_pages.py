"""Queues and shifts: managers set the assignment rule and who is on shift, agents go on or off
shift themselves, and automatic assignment follows."""

import pytest
from django.db import transaction
from django.urls import reverse

from support.choices import AssignmentMode
from support.models import QueueAgent
from support.services.assignment import next_agent
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client, support_manager):
    client.force_login(support_manager)
    return client


def on_shift(queue):
    return set(QueueAgent.objects.filter(queue=queue, on_shift=True).values_list("user", flat=True))


def test_manager_sets_the_rule_and_who_is_on_shift_and_assignment_follows(
    manager_client, queue, agent, agent2
):
    response = manager_client.post(
        reverse("support:queue_assignment", args=[queue.pk]),
        {"assignment_mode": AssignmentMode.LEAST_OPEN, "on_shift": [agent2.pk]},
    )
    assert response.status_code == 302
    queue.refresh_from_db()
    assert queue.assignment_mode == AssignmentMode.LEAST_OPEN
    assert on_shift(queue) == {agent2.pk}
    with transaction.atomic():
        assert next_agent(queue=queue) == agent2
    page = manager_client.get(reverse("support:queue_list")).content.decode()
    assert 'name="assignment_mode"' in page and queue.name in page


def test_a_bad_rule_re_renders_with_the_reason_and_changes_nothing(manager_client, queue, agent):
    response = manager_client.post(
        reverse("support:queue_assignment", args=[queue.pk]),
        {"assignment_mode": "lottery", "on_shift": [agent.pk]},
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    queue.refresh_from_db()
    assert queue.assignment_mode == AssignmentMode.ROUND_ROBIN
    assert len(on_shift(queue)) == 2


def test_agent_goes_off_and_on_shift_but_changes_nothing_else(agent_client, queue, agent, agent2):
    url = reverse("support:queue_shift", args=[queue.pk])
    assert agent_client.post(url, {"on_shift": "0"}).status_code == 302
    assert on_shift(queue) == {agent2.pk}
    with transaction.atomic():
        assert next_agent(queue=queue) == agent2
    page = agent_client.get(reverse("support:queue_list")).content.decode()
    assert "You are off shift" in page and 'name="assignment_mode"' not in page
    agent_client.post(url, {"on_shift": "1"})
    assert on_shift(queue) == {agent.pk, agent2.pk}
    assert_hidden(
        agent_client,
        post=[
            (
                reverse("support:queue_assignment", args=[queue.pk]),
                {"assignment_mode": AssignmentMode.MANUAL, "on_shift": []},
            )
        ],
    )
    queue.refresh_from_db()
    assert queue.assignment_mode == AssignmentMode.ROUND_ROBIN


def test_shift_of_a_queue_one_is_not_in_is_hidden(manager_client, queue):
    # The manager manages the team but is not a member of the queue: no shift to change.
    url = reverse("support:queue_shift", args=[queue.pk])
    assert manager_client.post(url, {"on_shift": "0"}).status_code == 404


def test_reps_do_not_see_queues(rep_client, queue):
    assert_hidden(
        rep_client,
        get=[reverse("support:queue_list")],
        post=[
            (reverse("support:queue_shift", args=[queue.pk]), {"on_shift": "0"}),
            (
                reverse("support:queue_assignment", args=[queue.pk]),
                {"assignment_mode": AssignmentMode.MANUAL},
            ),
        ],
    )


def test_queue_page_has_a_fixed_query_count(
    manager_client, queue, agent, django_assert_max_num_queries
):
    from tests.factories.support import QueueFactory

    with django_assert_max_num_queries(8):
        manager_client.get(reverse("support:queue_list"))
    for _ in range(4):
        QueueFactory(team=queue.team, agents=[agent])
    with django_assert_max_num_queries(8):
        assert manager_client.get(reverse("support:queue_list")).status_code == 200
