"""Leads the round-robin could not place: a team without reps gives them to its manager; a team
with neither leaves them in the "Unassigned leads" queue its managers (and admins) work from."""

import pytest
from django.urls import reverse

from crm.choices import Role
from leads.models import Lead
from leads.services import leads as lead_services
from tests.factories.crm import TeamFactory, UserFactory
from tests.factories.leads import AssignmentRuleFactory, LeadFactory

pytestmark = pytest.mark.django_db


def _routed_to(team, **data):
    AssignmentRuleFactory(team=team, countries="FR")
    return lead_services.lead_create(
        first_name="Anne", last_name=data.pop("last_name", "Routed"), country="FR", **data
    )


def test_a_team_without_reps_gives_its_leads_to_its_manager(manager):
    agent = UserFactory(roles=[Role.SUPPORT_AGENT])
    france = TeamFactory(name="France", members=[agent], managers=[manager])

    lead = _routed_to(france)

    assert lead.team == france and lead.owner == manager


def test_the_round_robin_still_comes_first(manager, rep):
    france = TeamFactory(name="France", members=[rep], managers=[manager])

    assert _routed_to(france).owner == rep


def test_managers_see_and_hand_out_the_unassigned_leads_of_their_teams(
    client, manager, rep, rep2, admin
):
    # Given a team with no rep and no manager of its own, one the manager runs, and another,
    ours = TeamFactory(name="Ours", managers=[manager])
    theirs = TeamFactory(name="Theirs", managers=[UserFactory(roles=[Role.MANAGER])])
    nobody = TeamFactory(name="Nobody")
    mine = LeadFactory(owner=None, team=ours, last_name="Ourgap")
    unrouted = LeadFactory(owner=None, team=None, last_name="Unrouted")
    hidden = LeadFactory(owner=None, team=theirs, last_name="Theirgap")
    orphan = LeadFactory(owner=None, team=nobody, last_name="Orphangap")
    LeadFactory(owner=rep, last_name="Owned")

    # the manager's queue holds the gaps of their teams and the leads no rule routed,
    client.force_login(manager)
    page = client.get(reverse("leads:unassigned_leads"))
    assert {lead.pk for lead in page.context["object_list"]} == {mine.pk, unrouted.pk}
    assert client.get(reverse("leads:lead_detail", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("leads:lead_detail", args=[orphan.pk])).status_code == 404

    # and they hand one out.
    response = client.post(reverse("leads:lead_reassign", args=[mine.pk]), {"owner": rep2.pk})
    assert response.status_code == 302
    assert Lead.objects.get(pk=mine.pk).owner == rep2

    # An admin's queue holds every unowned lead.
    client.force_login(admin)
    page = client.get(reverse("leads:unassigned_leads"))
    assert {lead.pk for lead in page.context["object_list"]} == {unrouted.pk, hidden.pk, orphan.pk}


def test_reps_and_agents_have_no_unassigned_queue(rep_client, agent_client):
    LeadFactory(owner=None, team=None)
    assert rep_client.get(reverse("leads:unassigned_leads")).status_code == 404
    assert agent_client.get(reverse("leads:unassigned_leads")).status_code == 404


@pytest.mark.parametrize("rows", [3, 60])
def test_the_unassigned_queue_keeps_its_query_count(
    rows, manager_client, manager, django_assert_max_num_queries
):
    team = TeamFactory(managers=[manager])
    LeadFactory.create_batch(rows, owner=None, team=team)
    # 12, the saved views menu, the bell's count, the custom field definitions
    with django_assert_max_num_queries(15):
        response = manager_client.get(reverse("leads:unassigned_leads"))
    assert len(response.context["object_list"]) == min(rows, 50)


def test_the_unassigned_leads_a_user_sees_are_their_visible_leads_without_an_owner(
    manager, rep, admin, agent
):
    ours = TeamFactory(name="Ours", managers=[manager], members=[rep])
    theirs = TeamFactory(name="Theirs", managers=[UserFactory(roles=[Role.MANAGER])])
    LeadFactory(owner=None, team=ours)
    LeadFactory(owner=None, team=None)
    LeadFactory(owner=None, team=theirs)
    LeadFactory(owner=rep, team=ours)
    LeadFactory(owner=manager, team=None)

    for user in (manager, rep, admin, agent):
        visible = Lead.objects.visible_to(user).filter(owner__isnull=True)
        assert set(Lead.objects.unassigned_visible_to(user)) == set(visible), user
    assert Lead.objects.unassigned_visible_to(manager).count() == 2
    assert Lead.objects.unassigned_visible_to(admin).count() == 3
