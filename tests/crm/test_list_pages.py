"""What every list page offers: page numbers, a page-size choice, and empty states that say
what to do (``crm.views.lists``)."""

import pytest
from django.test import override_settings
from django.urls import reverse

from crm.views.lists import PAGE_SIZES
from tests.factories.crm import AccountFactory
from tests.factories.leads import LeadFactory
from tests.factories.support import TicketFactory

pytestmark = [pytest.mark.django_db, pytest.mark.pgbouncer]

ACCOUNTS = reverse("account_list")


def pager(response):
    return response.context["page_links"]


def test_page_numbers_surround_the_current_page_with_first_and_last(rep_client):
    AccountFactory.create_batch(26 * 7 // 2, name="Acme")  # 91 rows: four pages of 25
    response = rep_client.get(ACCOUNTS, {"per_page": 25, "page": 2, "q": "acme"})
    links = pager(response)
    assert links.numbers == [1, 2, 3, 4]
    assert (links.previous, links.next, links.first, links.last) == (1, 3, False, None)
    html = response.content.decode()
    assert "page=3" in html and "per_page=25" in html and "q=acme" in html
    assert "26–50 of 91" in html


def test_a_far_page_links_the_first_and_the_exact_last_page(rep_client):
    AccountFactory.create_batch(200)
    links = pager(rep_client.get(ACCOUNTS, {"per_page": 25, "page": 4}))
    assert links.numbers == [2, 3, 4, 5, 6]
    assert links.first and links.last == 8


def test_an_estimated_count_offers_no_last_page(rep_client, settings, monkeypatch):
    settings.EXACT_COUNT_LIMIT = 10
    AccountFactory.create_batch(60)
    # The planner's guess depends on the statistics other tests left on the table: fix it here.
    monkeypatch.setattr("crm.pagination.planner_estimate", lambda queryset: 1000)
    response = rep_client.get(ACCOUNTS, {"per_page": 25})
    assert response.context["paginator"].count_is_estimate
    links = pager(response)
    assert links.next == 2 and links.last is None
    assert "Last »" not in response.content.decode()


def test_a_list_estimated_far_beyond_the_limit_is_not_read_to_the_limit(db, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.models import Account
    from crm.pagination import SURELY_LONGER, EstimatedCountPaginator

    AccountFactory.create_batch(3)
    accounts = Account.objects.filter(name__isnull=False).order_by("pk")
    far = SURELY_LONGER * 10 + 1
    monkeypatch.setattr("crm.pagination.planner_estimate", lambda queryset: far)
    settings = override_settings(EXACT_COUNT_LIMIT=10, ESTIMATED_COUNT_CACHE_SECONDS=0)
    with settings, CaptureQueriesContext(connection) as captured:
        paginator = EstimatedCountPaginator(accounts, 2)
        assert paginator.count == far and paginator.count_is_estimate
    assert not captured  # trusted: no rows read to check it
    # Within the factor, the rows up to the limit are read: 3 rows are counted, not estimated.
    monkeypatch.setattr("crm.pagination.planner_estimate", lambda queryset: SURELY_LONGER * 10)
    with settings:
        paginator = EstimatedCountPaginator(accounts, 2)
        assert paginator.count == 3 and not paginator.count_is_estimate


@pytest.mark.parametrize(
    "asked, got", [("25", 25), ("100", 100), ("7", 50), ("100000", 50), ("x", 50)]
)
def test_page_size_is_one_of_the_offered_sizes(rep_client, asked, got):
    AccountFactory.create_batch(30)
    response = rep_client.get(ACCOUNTS, {"per_page": asked})
    assert response.context["paginator"].per_page == got
    assert got in PAGE_SIZES


def test_the_size_choice_keeps_filters_and_sort_and_starts_at_page_one(rep_client):
    AccountFactory.create_batch(30, name="Acme")
    response = rep_client.get(ACCOUNTS, {"q": "acme", "sort": "name", "page": 2, "per_page": 25})
    html = response.content.decode()
    assert "q=acme&amp;sort=name&per_page=50" in html
    assert "26–30 of 30" in html


def test_htmx_paging_answers_the_table_with_its_pager(rep_client):
    AccountFactory.create_batch(30)
    response = rep_client.get(ACCOUNTS, {"page": 2, "per_page": 25}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html
    assert 'aria-current="page"><span class="page-link">2<' in html
    assert 'hx-get="?per_page=25&page=1"' in html


def test_a_page_past_the_end_is_empty_and_links_back_to_the_first(rep_client):
    AccountFactory.create_batch(3)
    response = rep_client.get(ACCOUNTS, {"page": 9})
    assert response.status_code == 200
    assert "past the end of the list" in response.content.decode()
    assert pager(response).first


def test_the_ticket_list_has_page_numbers_and_sizes(agent_client):
    TicketFactory.create_batch(30)
    response = agent_client.get(reverse("support:ticket_list"), {"per_page": 25})
    assert pager(response).numbers == [1, 2]
    assert 'aria-label="Rows per page"' in response.content.decode()


def test_a_short_list_offers_no_size_choice(rep_client):
    AccountFactory.create_batch(3)
    assert 'aria-label="Rows per page"' not in rep_client.get(ACCOUNTS).content.decode()


def test_empty_list_says_add_one_or_import(rep_client):
    html = rep_client.get(reverse("leads:lead_list")).content.decode()
    assert "No leads yet." in html
    assert reverse("leads:lead_create") in html
    assert reverse("tabular_import_start", args=["leads"]) in html


def test_empty_filtered_list_says_clear_filters(rep_client, rep):
    LeadFactory(owner=rep, last_name="Acme")
    html = rep_client.get(reverse("leads:lead_list"), {"q": "globex"}).content.decode()
    assert "No leads match these filters" in html
    assert "clear filters" in html
    assert "No leads yet" not in html


def test_an_agent_is_not_offered_what_they_may_not_do(agent_client):
    html = agent_client.get(reverse("account_list")).content.decode()
    assert "No accounts yet." in html
    assert (
        reverse("tabular_import_start", args=["accounts"]) not in html.split("No accounts yet.")[1]
    )


def test_an_empty_queue_says_so_without_offering_to_create(agent_client):
    html = agent_client.get(reverse("support:unassigned")).content.decode()
    assert "Nothing in this queue right now." in html
    assert "No tickets yet" not in html


def test_the_task_list_exports_its_filtered_rows_and_takes_no_imports(rep_client, rep, rep2):
    from tests.factories.crm import TaskFactory
    from tests.tabular.conftest import csv_table

    account = AccountFactory(owner=rep)
    mine = TaskFactory(assignee=rep, title="Call back", subject=account)
    TaskFactory(assignee=rep2, title="Not mine")
    page = rep_client.get(reverse("task_list")).content.decode()
    assert "export=csv" in page
    assert reverse("tabular_import_start", args=["tasks"]) not in page
    rows = csv_table(rep_client.get(reverse("task_list"), {"export": "csv"}))
    assert rows[0][:3] == ["id", "title", "due_at"]
    assert [r[1] for r in rows[1:]] == ["Call back"]
    assert rows[1][0] == str(mine.pk) and rows[1][3] == rep.username
    assert rows[1][4] == f"account #{account.pk}"
    assert rep_client.get(reverse("tabular_import_start", args=["tasks"])).status_code == 404


def test_the_order_list_exports_its_rows(manager_client, manager):
    from tests.factories.sales import OrderFactory
    from tests.tabular.conftest import csv_table

    order = OrderFactory(owner=manager)
    page = manager_client.get(reverse("sales:order_list")).content.decode()
    assert "export=xlsx" in page
    rows = csv_table(manager_client.get(reverse("sales:order_list"), {"export": "csv"}))
    assert rows[0][:3] == ["id", "account", "order_date"]
    assert [r[0] for r in rows[1:]] == [str(order.pk)]
    assert rows[1][1] == order.account.name


def test_filter_options_are_read_in_one_plain_query(rep_client, rep):
    # Given contacts of the rep, filtered by their owner
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories.crm import ContactFactory

    ContactFactory.create_batch(3, owner=rep)
    # When the list opens with that owner chosen
    with CaptureQueriesContext(connection) as captured:
        response = rep_client.get(reverse("contact_list"), {"owner": rep.pk})
    # Then it shows them, with the owner chosen among the options of the filter bar, which were
    # read once and without a server-side cursor (DECLARE, FETCH, CLOSE)
    assert response.status_code == 200
    assert len(response.context["object_list"]) == 3
    assert f'<option value="{rep.pk}" selected>' in response.content.decode()
    sqls = [query["sql"] for query in captured.captured_queries]
    assert not [sql for sql in sqls if sql.startswith("DECLARE")]
    assert len([sql for sql in sqls if 'FROM "crm_user"' in sql and "DISTINCT" in sql]) == 1


def test_an_owner_who_is_not_an_option_is_an_error_not_a_filter(rep_client):
    response = rep_client.get(reverse("contact_list"), {"owner": 987654})
    assert response.status_code == 200
    assert "owner" in response.context["filterset"].form.errors


def test_a_whole_table_is_counted_up_to_the_limit_with_its_estimate_in_one_query(db):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.pagination import whole_table_count
    from support.models import Ticket

    TicketFactory.create_batch(12)
    with CaptureQueriesContext(connection) as captured:
        rows, _estimate = whole_table_count(Ticket.objects.all(), 10)
    assert rows == 11 and len(captured) == 1  # counted to the limit and one more
    assert whole_table_count(Ticket.objects.filter(priority="high"), 10) is None


def test_a_table_far_beyond_the_limit_is_not_counted(db):
    from django.db import connection

    from crm.pagination import SURELY_LONGER, whole_table_count
    from support.models import Ticket

    TicketFactory.create_batch(3)
    # Statistics saying the table is many times the limit (rolled back with the test).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pg_class SET reltuples = %s WHERE oid = 'support_ticket'::regclass",
            [SURELY_LONGER * 10 + 1],
        )
    assert whole_table_count(Ticket.objects.all(), 10) == (None, SURELY_LONGER * 10 + 1)
    assert whole_table_count(Ticket.objects.all(), 100) == (3, SURELY_LONGER * 10 + 1)


def test_record_links_are_the_reversed_urls():
    from crm.links import record_url

    for name in ("contact_detail", "account_detail", "leads:lead_detail", "support:ticket_detail"):
        assert record_url(name, 12345) == reverse(name, args=[12345])


def test_an_empty_queryset_is_estimated_as_nothing():
    from crm.models import Contact
    from crm.pagination import EstimatedCountPaginator, planner_estimate

    assert planner_estimate(Contact.objects.none()) == 0
    assert EstimatedCountPaginator(Contact.objects.none().order_by("pk"), 50).count == 0


def test_an_estimate_is_kept_a_moment_for_the_same_rows_and_an_exact_count_never(db, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.models import Account
    from crm.pagination import EstimatedCountPaginator

    def count(name):
        return EstimatedCountPaginator(Account.objects.filter(name=name), 2).count

    AccountFactory.create_batch(3, name="Kept")
    monkeypatch.setattr("crm.pagination.planner_estimate", lambda queryset: 5000)
    with override_settings(EXACT_COUNT_LIMIT=2):
        assert count("Kept") == 5000
        with CaptureQueriesContext(connection) as captured:
            paginator = EstimatedCountPaginator(Account.objects.filter(name="Kept"), 2)
            assert paginator.count == 5000 and paginator.count_is_estimate
        assert not captured
        # Other rows (another filter) are estimated afresh.
        monkeypatch.setattr("crm.pagination.planner_estimate", lambda queryset: 7000)
        assert count("Other") == 7000
    # Below the limit the count is exact, and read every time.
    AccountFactory.create_batch(3, name="Exact")
    assert count("Exact") == 3
    AccountFactory(name="Exact")
    assert count("Exact") == 4


def test_a_ranked_search_is_counted_with_its_page_keys(rep_client, rep, monkeypatch):
    """A search ordered by rank that the planner expects within ``EXACT_COUNT_LIMIT`` reads its
    page's keys with the number of matches, then those rows: no COUNT of its own, the same
    rows in the same order, and the exact count. A longer one is counted as any list."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.models import Contact
    from crm.pagination import EstimatedCountPaginator
    from crm.text_search import text_search
    from tests.factories.crm import ContactFactory

    for n in range(7):
        ContactFactory(owner=rep, first_name="Ranked" if n % 2 else "Other", last_name="Zebulon")
    ContactFactory(owner=rep, last_name="Elsewhere")
    found = text_search(Contact.objects.all(), ("first_name", "last_name"), "zebulon ranked")
    found = text_search(found, ("first_name", "last_name"), "zebulon", rank=True)
    ranked = found.select_related("owner").order_by("-search_rank", "-pk")
    expected = [c.pk for c in ranked]
    assert len(expected) == 3
    monkeypatch.setattr("crm.pagination.planner_estimate", lambda queryset: 3)
    pages = []
    with CaptureQueriesContext(connection) as captured:
        for number in (1, 2):
            paginator = EstimatedCountPaginator(ranked, 2)
            page = paginator.page(number)
            pages.append([c.pk for c in page.object_list])
            assert paginator.count == 3 and not paginator.count_is_estimate
            assert page.has_next() == (number == 1)
    assert [pk for pks in pages for pk in pks] == expected
    assert all(c.owner == rep for c in page.object_list)  # read with the row
    assert not [q for q in captured if "COUNT(*) AS" in q["sql"]]
    assert sum("OVER ()" in q["sql"] for q in captured) == 2
    # Past the end: no rows, and the count still exact.
    paginator = EstimatedCountPaginator(ranked, 2)
    assert list(paginator.page(5).object_list) == [] and paginator.count == 3
    # Expected longer than the limit: the page as any list's.
    monkeypatch.setattr("crm.pagination.planner_estimate", lambda queryset: 50_000)
    with CaptureQueriesContext(connection) as captured:
        paginator = EstimatedCountPaginator(ranked, 2)
        assert [c.pk for c in paginator.page(1).object_list] == expected[:2]
    assert not [q for q in captured if "OVER ()" in q["sql"]]
    response = rep_client.get(reverse("contact_list"), {"q": "zebulon"})
    assert [c.pk for c in response.context["object_list"]][:3] == [
        c.pk
        for c in text_search(Contact.objects.all(), (), "zebulon", rank=True).order_by(
            "-search_rank", "-pk"
        )[:3]
    ]
