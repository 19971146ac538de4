"""A record's History page, restoring a field from it, and the admins' field-history page."""

from decimal import Decimal

import pytest
from django.urls import reverse

from crm.history import Source, source
from crm.models import Account
from sales.models import Opportunity
from sales.services import opportunity_update
from tests.factories.crm import AccountFactory
from tests.factories.sales import OpportunityFactory, ProductFactory, stage_named

pytestmark = pytest.mark.django_db


def history_url(obj):
    return reverse("record_history", args=[obj._meta.label_lower, obj.pk])


def restore_url(obj):
    return reverse("record_restore", args=[obj._meta.label_lower, obj.pk])


def last_update(obj):
    return obj.history_events.filter(pgh_label="update").latest("pgh_id")


@pytest.fixture
def deal(rep):
    return OpportunityFactory(owner=rep, amount=Decimal("1000.00"), next_step="Call")


def test_history_page_shows_changes_readably_newest_first(rep_client, rep, rep2, deal):
    with source(Source.PAGE, user=rep):
        opportunity_update(
            opportunity=deal, user=rep, amount=Decimal("15000"), stage=stage_named("Proposal")
        )
    with source(Source.BULK_EDIT, user=rep):
        other = AccountFactory(owner=rep, name="Other Co")
        Opportunity.objects.filter(pk=deal.pk).update(account=other, forecast_category="commit")
    response = rep_client.get(history_url(deal))
    assert response.status_code == 200
    text = response.content.decode()
    assert 'Amount: <span class="text-body-secondary">1,000.00</span> → 15,000.00' in text
    assert 'Stage: <span class="text-body-secondary">Qualification</span> → Proposal' in text
    assert "→ Other Co" in text  # a key shown as the record's name
    assert "→ Commit" in text  # a choice shown by its label
    assert "bulk edit" in text and text.index("bulk edit") < text.index("15,000.00")
    assert str(rep) in text


def test_history_shows_line_item_and_quote_changes_on_the_deal(rep_client, rep, deal):
    from sales import services

    services.line_item_add(opportunity=deal, user=rep, product=ProductFactory(name="Widget"))
    text = rep_client.get(history_url(deal)).content.decode()
    assert "Opportunity line item created" in text and "Widget" in text


def test_history_page_query_count_does_not_grow_with_rows(
    rep_client, rep, rep2, deal, django_assert_max_num_queries
):
    def change(times):
        for i in range(times):
            Opportunity.objects.filter(pk=deal.pk).update(
                next_step=f"Step {i}", owner=rep if i % 2 else rep2, amount=Decimal(i)
            )

    change(2)
    with django_assert_max_num_queries(30) as few:
        rep_client.get(history_url(deal))
    change(30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = rep_client.get(history_url(deal))
    assert response.status_code == 200 and response.context["has_more"]
    assert len(response.context["rows"]) == 25
    older = rep_client.get(history_url(deal), {"page": 2})
    assert older.status_code == 200 and not older.context["has_more"]


def test_history_of_a_record_one_may_not_see_is_a_404(rep_client, rep2, agent_client):
    other = OpportunityFactory(owner=rep2)
    assert rep_client.get(history_url(other)).status_code == 404
    assert agent_client.get(history_url(other)).status_code == 404  # agents see no deals
    assert rep_client.get(f"/history/crm.nothing/{other.pk}/").status_code == 404
    assert rep_client.get("/history/sales.opportunity/99999999999/").status_code == 404


def test_restore_puts_the_old_value_back_through_the_service_and_records_it(rep_client, rep, deal):
    with source(Source.PAGE, user=rep):
        opportunity_update(opportunity=deal, user=rep, next_step="Wrong step")
    event = last_update(deal)
    response = rep_client.post(restore_url(deal), {"event": event.pk, "field": "next_step"})
    assert response.status_code == 302 and response["Location"] == history_url(deal)
    deal.refresh_from_db()
    assert deal.next_step == "Call"
    restore = last_update(deal)
    assert restore.pgh_changes == {"next_step": ["Wrong step", "Call"]}
    assert restore.pgh_context.metadata["source"] == Source.RESTORE
    assert restore.pgh_context.metadata["user"] == rep.pk
    assert restore.pgh_context.metadata["event"].endswith(f":{event.pk}")
    # The service's own trace: the timeline says what changed.
    assert deal.activities.filter(summary__icontains="next step").exists()
    # And the History page offers to restore only to users who may change the deal.
    page = rep_client.get(history_url(deal)).content.decode()
    assert "Restore “Wrong step”" in page


def test_restore_of_a_field_changed_since_is_refused_and_says_so(rep_client, rep, deal):
    with source(Source.PAGE, user=rep):
        opportunity_update(opportunity=deal, user=rep, next_step="Second")
        first = last_update(deal)
        opportunity_update(opportunity=deal, user=rep, next_step="Third")
    response = rep_client.post(
        restore_url(deal), {"event": first.pk, "field": "next_step"}, follow=True
    )
    deal.refresh_from_db()
    assert deal.next_step == "Third"
    message = [str(m) for m in response.context["messages"]][0]
    assert (
        "has changed since" in message and "Third" in message and "Nothing was restored" in message
    )


def test_restore_refuses_fields_users_do_not_edit_and_foreign_events(rep_client, rep, deal):
    Opportunity.objects.filter(pk=deal.pk).update(closed_at="2026-01-01T00:00:00Z")
    event = last_update(deal)
    response = rep_client.post(restore_url(deal), {"event": event.pk, "field": "closed_at"})
    assert response.status_code == 302
    other = AccountFactory(owner=rep)
    Account.objects.filter(pk=other.pk).update(name="Elsewhere")
    foreign = last_update(other)
    assert (
        rep_client.post(restore_url(deal), {"event": foreign.pk, "field": "name"}).status_code
        == 404
    )
    assert rep_client.post(restore_url(deal), {"event": "x", "field": ""}).status_code == 302


def test_restore_of_a_key_restores_the_record(rep_client, rep, rep2, deal):
    account = deal.account
    with source(Source.PAGE, user=rep):
        Account.objects.filter(pk=account.pk).update(owner=rep2)
    event = last_update(account)
    # The account now belongs to rep2: rep may no longer change it (404), rep2 may.
    assert (
        rep_client.post(restore_url(account), {"event": event.pk, "field": "owner"}).status_code
        == 404
    )
    rep_client.force_login(rep2)
    rep_client.post(restore_url(account), {"event": event.pk, "field": "owner"})
    account.refresh_from_db()
    assert account.owner == rep


def test_admins_page_filters_and_exports_and_is_hidden_from_others(
    admin_client_, admin, rep, deal, django_assert_max_num_queries
):
    with source(Source.IMPORT, user=admin, job=7):
        Opportunity.objects.filter(pk=deal.pk).update(next_step="Imported step")
    Opportunity.objects.filter(pk=deal.pk).update(next_step="From a shell")
    url = reverse("history_changes")
    with django_assert_max_num_queries(40):
        response = admin_client_.get(url)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Imported step" in text and "From a shell" in text and "shell / command" in text
    filtered = admin_client_.get(
        url, {"source": "import", "user": admin.pk, "kind": "sales.opportunityevent"}
    ).content.decode()
    assert "→ Imported step" in filtered and "→ From a shell" not in filtered
    shell = admin_client_.get(url, {"source": "command"}).content.decode()
    assert "→ From a shell" in shell and "→ Imported step" not in shell
    bad = admin_client_.get(url, {"since": "not a date", "user": "x", "page": "-3"})
    assert bad.status_code == 200
    edges = admin_client_.get(url, {"since": "0001-01-01", "until": "9999-12-31"})
    assert edges.status_code == 200 and "From a shell" in edges.content.decode()
    export = admin_client_.get(url, {"source": "import", "format": "csv"})
    assert export.status_code == 200
    body = b"".join(export.streaming_content).decode("utf-8-sig")
    assert "Imported step" in body and "From a shell" not in body
    assert body.splitlines()[0].startswith("when,record")


def test_admins_page_is_a_404_for_everyone_else(rep_client, manager_client):
    assert rep_client.get(reverse("history_changes")).status_code == 404
    assert manager_client.get(reverse("history_changes")).status_code == 404
