"""The catalog each web process keeps (``crm.catalog``): the number every change to a catalog
table raises in its own transaction, what is kept under it, and that a page shows a change made
elsewhere (another process, plain SQL, an ``update()`` that sends no signal) from the next
request, visibility included."""

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import catalog
from crm.auth.backends import signed_in_user_get
from crm.models import CatalogVersion, Team, User
from leads.models import Campaign, Lead
from support.models import Queue
from tests.factories.crm import UserFactory
from tests.factories.leads import CampaignFactory, LeadFactory
from tests.factories.support import QueueFactory

pytestmark = pytest.mark.django_db

LEADS = reverse("leads:lead_list")


def number() -> int:
    return CatalogVersion.objects.get(pk=1).value


def user_at(version):
    return SimpleNamespace(loaded_catalog_version=version)


def test_a_change_to_a_catalog_table_raises_the_number_in_its_transaction():
    before = number()
    campaign = CampaignFactory()
    assert number() > before

    before = number()
    Campaign.objects.filter(pk=campaign.pk).update(name="Renamed")
    assert number() > before


def test_columns_written_by_everyday_work_leave_the_number_alone(rep):
    """A sign-in's ``last_login`` and a queue's round-robin cursor change nothing kept."""
    queue = QueueFactory()
    before = number()
    User.objects.filter(pk=rep.pk).update(last_login="2026-01-01T00:00:00Z")
    Queue.objects.filter(pk=queue.pk).update(round_robin_cursor=rep.pk)
    assert number() == before

    User.objects.filter(pk=rep.pk).update(first_name="Renamed")
    assert number() > before


def test_the_signed_in_user_is_read_with_the_number(rep):
    CampaignFactory()
    assert signed_in_user_get(rep.pk).loaded_catalog_version == number()


def test_a_value_is_kept_under_its_number_until_the_number_changes():
    loads = []

    def load():
        loads.append(1)
        return [len(loads)]

    assert catalog.read(user_at(7), "key", load) == [1]
    assert catalog.read(user_at(7), "key", load) == [1]
    assert catalog.read(user_at(8), "key", load) == [2]
    # No number (background work, a token request): read every time.
    assert catalog.read(user_at(None), "key", load) == [3]
    assert catalog.read(None, "key", load) == [4]


def test_a_kept_list_is_handed_out_as_a_copy():
    kept = catalog.read(user_at(1), "key", lambda: [1, 2])
    kept.append(3)
    assert catalog.read(user_at(1), "key", lambda: []) == [1, 2]


def test_a_change_made_by_this_request_is_read_afresh_until_the_request_ends():
    catalog.request_begins()
    catalog.read(user_at(1), "key", lambda: ["old"])
    CampaignFactory()  # saved here: the request still holds the old number
    assert catalog.read(user_at(1), "key", lambda: ["new"]) == ["new"]
    assert catalog.read(user_at(1), "key", lambda: ["newer"]) == ["newer"]
    catalog.request_begins()
    assert catalog.read(user_at(2), "key", lambda: ["next"]) == ["next"]
    assert catalog.read(user_at(2), "key", lambda: ["later"]) == ["next"]


def test_rows_are_kept_only_for_queries_over_the_catalog_tables(rep):
    CampaignFactory()
    LeadFactory(owner=rep)
    catalog.request_begins()  # a request after these changes
    user = user_at(number())
    assert len(catalog.rows(user, Campaign.objects.order_by("pk"))) == 1
    with CaptureQueriesContext(connection) as read:
        catalog.rows(user, Campaign.objects.order_by("pk"))
    assert len(read) == 0

    # A lead, or a campaign filtered through its leads, is not the catalog's.
    for queryset in (
        lambda: Lead.objects.order_by("pk"),
        lambda: Campaign.objects.filter(pk__in=Lead.objects.values("campaign_id")).order_by("pk"),
    ):
        catalog.rows(user, queryset())
        with CaptureQueriesContext(connection) as read:
            catalog.rows(user, queryset())
        assert len(read) == 1


def test_named_rows_are_found_by_their_name_without_compiling_the_query(rep, monkeypatch):
    from django.db.models.sql import Query

    CampaignFactory(name="Spring fair")
    catalog.request_begins()
    user = user_at(number())
    name = "tests.campaigns"
    assert [c.name for c in catalog.rows(user, Campaign.objects.all(), name=name)] == [
        "Spring fair"
    ]

    def compiled(*args, **kwargs):
        raise AssertionError("the query was compiled")

    monkeypatch.setattr(Query, "sql_with_params", compiled)
    with CaptureQueriesContext(connection) as read:
        kept = catalog.rows(user, Campaign.objects.all(), name=name)
    assert [c.name for c in kept] == ["Spring fair"] and len(read) == 0
    monkeypatch.undo()

    # A change anywhere in the catalog raises the number: the name is read afresh.
    CampaignFactory(name="Autumn fair")
    catalog.request_begins()
    kept = catalog.rows(user_at(number()), Campaign.objects.order_by("name"), name=name)
    assert [c.name for c in kept] == ["Autumn fair", "Spring fair"]


def test_a_named_query_must_read_the_catalog_only(rep):
    catalog.request_begins()
    with pytest.raises(ValueError, match="beside the catalog"):
        catalog.rows(user_at(number()), Lead.objects.all(), name="tests.leads")


def test_filter_options_named_by_their_callable_are_read_by_name(manager_client, manager):
    """The owner and campaign filters (``catalog.named``) are found by name on the next page."""
    CampaignFactory(name="Spring fair")
    manager_client.get(LEADS)
    kept = catalog._kept[1]
    assert ("named", "crm.people") in kept and ("named", "leads.campaigns-by-name") in kept
    assert ("named", ("leads.sequences", manager.pk)) in kept


def test_the_list_page_reads_its_filter_options_once_then_shows_a_change_made_elsewhere(
    manager_client,
):
    campaign = CampaignFactory(name="Spring fair")
    with CaptureQueriesContext(connection) as first:
        assert "Spring fair" in manager_client.get(LEADS).content.decode()
    with CaptureQueriesContext(connection) as second:
        assert "Spring fair" in manager_client.get(LEADS).content.decode()
    assert len(second) < len(first)

    # As another process, or a statement without Django's signals, would change it.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE leads_campaign SET name = 'Autumn fair' WHERE id = %s", [campaign.pk]
        )
    page = manager_client.get(LEADS).content.decode()
    assert "Autumn fair" in page and "Spring fair" not in page


def test_a_manager_stops_seeing_a_member_s_leads_from_the_next_request(manager_client, rep):
    lead = LeadFactory(owner=rep, first_name="Zebedee")
    assert "Zebedee" in manager_client.get(LEADS).content.decode()
    assert manager_client.get(reverse("leads:lead_detail", args=[lead.pk])).status_code == 200

    team = Team.objects.get(name="Sales")
    with connection.cursor() as cursor:  # no signal: only the number tells the process
        cursor.execute(
            "DELETE FROM crm_team_members WHERE team_id = %s AND user_id = %s", [team.pk, rep.pk]
        )
    assert "Zebedee" not in manager_client.get(LEADS).content.decode()
    assert manager_client.get(reverse("leads:lead_detail", args=[lead.pk])).status_code == 404


def test_a_new_saved_view_shows_at_once(rep_client, rep):
    rep_client.get(reverse("contact_list"))
    UserFactory()  # another change of the catalog, for good measure
    from crm.services import saved_views

    saved_views.saved_view_create(
        user=rep, list_key="contact_list", name="My hot ones", query="quality=good"
    )
    assert "My hot ones" in rep_client.get(reverse("contact_list")).content.decode()


def test_off_reads_every_time(settings):
    settings.CATALOG_CACHE = False
    loads = []
    catalog.read(user_at(1), "key", lambda: loads.append(1))
    catalog.read(user_at(1), "key", lambda: loads.append(1))
    assert len(loads) == 2


def test_what_is_kept_is_read_from_the_primary_even_where_reads_may_lag():
    from crm.replica import _lagging, lagging_reads

    with lagging_reads():
        assert catalog.read(user_at(1), "key", _lagging.get) is False
        assert _lagging.get() is True


def test_attach_gives_rows_their_catalog_records_and_reads_only_the_missing_ones(agent):
    from support.models import Ticket
    from tests.factories.support import TicketFactory

    queue = QueueFactory()
    roleless = UserFactory(roles=[])
    TicketFactory(queue=queue, assignee=agent)
    TicketFactory(queue=queue, assignee=roleless)
    TicketFactory(queue=None, assignee=None)
    catalog.request_begins()
    user = user_at(number())
    catalog.rows(user, Queue.objects.all())
    catalog.rows(user, User.objects.filter(groups__isnull=False).distinct())

    tickets = list(Ticket.objects.order_by("pk"))
    with CaptureQueriesContext(connection) as read:
        catalog.attach(user, tickets, "queue", Queue.objects.all())
        catalog.attach(
            user, tickets, "assignee", User.objects.filter(groups__isnull=False).distinct()
        )
    assert len(read) == 1  # the person without a role, not kept
    with CaptureQueriesContext(connection) as read:
        assert [t.queue for t in tickets] == [queue, queue, None]
        assert [t.assignee for t in tickets] == [agent, roleless, None]
    assert len(read) == 0


def test_the_ticket_list_shows_queues_and_assignees_renamed_elsewhere(agent_client, agent):
    from tests.factories.support import TicketFactory

    queue = QueueFactory(name="Desk Alpha")
    TicketFactory(queue=queue, assignee=agent, subject="Refund please")
    page = agent_client.get(reverse("support:ticket_list")).content.decode()
    assert "Refund please" in page and "Desk Alpha" in page
    with connection.cursor() as cursor:
        cursor.execute("UPDATE support_queue SET name = 'Desk Omega' WHERE id = %s", [queue.pk])
    page = agent_client.get(reverse("support:ticket_list")).content.decode()
    assert "Desk Omega" in page and "Desk Alpha" not in page
