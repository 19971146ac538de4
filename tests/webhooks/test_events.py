"""Each event of the catalogue fires from its real trigger (the services the pages call), once,
with the record's id, main fields and URL, inside the transaction of the change."""

from decimal import Decimal

import pytest

from crm.models import Contact, WebhookDelivery
from crm.registry import webhook_events
from crm.services.customers import account_create, contact_create
from leads.campaigns.services.sending import contact_unsubscribe
from leads.services.leads import lead_convert, lead_create
from retention.models import Subscription
from retention.services.subscriptions import subscription_change, subscription_update
from sales import services as sales_services
from sales.choices import Billing
from support.services.tickets import ticket_change_status, ticket_create
from tests.factories import AccountFactory, ContactFactory, WebhookEndpointFactory
from tests.factories.sales import OpportunityFactory, ProductFactory, stage_named

pytestmark = pytest.mark.django_db

CATALOGUE = {
    "lead.created",
    "lead.converted",
    "opportunity.created",
    "opportunity.stage_changed",
    "opportunity.won",
    "opportunity.lost",
    "ticket.created",
    "ticket.solved",
    "subscription.created",
    "subscription.changed",
    "contact.created",
    "contact.unsubscribed",
    "account.created",
}


@pytest.fixture
def endpoint(db):
    return WebhookEndpointFactory()  # every event


def events(event_type=None) -> list[dict]:
    rows = WebhookDelivery.objects.order_by("id")
    if event_type:
        rows = rows.filter(event_type=event_type)
    return [row.payload for row in rows]


def test_the_catalogue_is_registered_with_labels_and_fields():
    registered = {e.type: e for e in webhook_events.events()}

    assert set(registered) >= CATALOGUE
    for event in registered.values():
        assert event.label and event.description and "id" in event.fields and "url" in event.fields


def test_a_customers_path_fires_every_event_once(endpoint, rep, agent):
    # A lead comes in and is converted with a deal: a new account and contact.
    lead = lead_create(
        user=rep,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@engines.example",
        company_name="Engines Ltd",
        website="engines.example",
    )
    conversion = lead_convert(lead=lead, user=rep, create_opportunity=True)
    (deal,) = conversion.created
    # The deal moves on, gets a monthly product and is won: a subscription starts.
    sales_services.opportunity_move_stage(opportunity=deal, stage=stage_named("Proposal"), user=rep)
    product = ProductFactory(billing=Billing.MONTHLY, price=Decimal("300.00"))
    sales_services.line_item_add(opportunity=deal, user=rep, product=product)
    sales_services.opportunity_close_won(opportunity=deal, user=rep)
    subscription = Subscription.objects.get(account=conversion.account)
    subscription_change(subscription=subscription, seats=3, user=rep)
    # Support: a ticket opened and solved.
    ticket = ticket_create(subject="Cannot log in", contact=conversion.contact, user=agent)
    ticket_change_status(ticket=ticket, status="solved", user=agent)
    # Marketing: the contact, who had agreed to marketing email, unsubscribes.
    Contact.objects.filter(pk=conversion.contact.pk).update(marketing_consent=True)
    contact_unsubscribe(contact=conversion.contact)
    # Another deal is lost.
    lost = OpportunityFactory(owner=rep)
    sales_services.opportunity_close_lost(opportunity=lost, user=rep, reason="price")

    fired = {p["type"] for p in events()}
    assert CATALOGUE - fired == set()
    (created,) = events("lead.created")
    assert created["data"]["id"] == lead.pk and created["data"]["email"] == "ada@engines.example"
    (converted,) = events("lead.converted")
    assert converted["data"]["account"]["id"] == conversion.account.pk
    assert converted["data"]["contact"]["id"] == conversion.contact.pk
    assert converted["data"]["opportunity_id"] == deal.pk
    assert [p["data"]["id"] for p in events("account.created")] == [conversion.account.pk]
    assert [p["data"]["id"] for p in events("contact.created")] == [conversion.contact.pk]
    assert [p["data"]["id"] for p in events("opportunity.created")] == [deal.pk]
    moves = [
        (p["data"]["from_stage"]["name"], p["data"]["stage"]["name"])
        for p in events("opportunity.stage_changed")
        if p["data"]["id"] == deal.pk
    ]
    assert moves[0][1] == "Proposal" and moves[1] == ("Proposal", "Closed won")
    (won,) = events("opportunity.won")
    assert won["data"]["status"] == "won" and won["data"]["mrr"] == "300.00"
    assert won["data"]["url"].endswith(deal.get_absolute_url())
    (lost_event,) = events("opportunity.lost")
    assert lost_event["data"]["id"] == lost.pk and lost_event["data"]["lost_reason"] == "price"
    (started,) = events("subscription.created")
    assert started["data"]["id"] == subscription.pk and started["data"]["mrr"] == "300.00"
    (changed,) = events("subscription.changed")
    assert changed["data"]["changes"] == ["seats"] and changed["data"]["seats"] == 3
    assert [p["data"]["id"] for p in events("ticket.created")] == [ticket.pk]
    (solved,) = events("ticket.solved")
    assert solved["data"]["status"] == "solved" and solved["data"]["reference"]
    (unsubscribed,) = events("contact.unsubscribed")
    assert unsubscribed["data"]["marketing_consent"] is False


def test_repeated_actions_fire_nothing_more(endpoint, rep):
    deal = OpportunityFactory(owner=rep)
    sales_services.opportunity_close_won(opportunity=deal, user=rep)
    sales_services.opportunity_close_won(opportunity=deal, user=rep)  # a double click
    contact = ContactFactory(marketing_consent=True)
    contact_unsubscribe(contact=contact)
    contact_unsubscribe(contact=contact)

    assert len(events("opportunity.won")) == 1
    assert len(events("contact.unsubscribed")) == 1


def test_accounts_and_contacts_made_by_hand(endpoint, rep):
    account = account_create(user=rep, name="Globex")
    contact = contact_create(user=rep, last_name="Simpson", account=account)

    assert [p["data"]["name"] for p in events("account.created")] == ["Globex"]
    (made,) = events("contact.created")
    assert made["data"]["account"] == {
        "id": account.pk,
        "name": "Globex",
        "url": made["data"]["account"]["url"],
    }
    assert made["data"]["id"] == contact.pk


def test_a_subscription_plan_change_names_it(endpoint, rep):
    subscription = Subscription.objects.create(
        account=AccountFactory(),
        plan="Basic",
        mrr=Decimal("10"),
        start_date="2026-01-01",
        renewal_date="2027-01-01",
    )

    subscription_update(subscription=subscription, user=rep, plan="Pro")

    (changed,) = events("subscription.changed")
    assert changed["data"]["changes"] == ["plan"] and changed["data"]["plan"] == "Pro"


def test_a_failed_action_fires_nothing(endpoint, rep):
    deal = OpportunityFactory(owner=rep)

    with pytest.raises(Exception):  # noqa: B017  a lost deal needs a reason
        sales_services.opportunity_close_lost(opportunity=deal, user=rep, reason="")

    assert events() == []
