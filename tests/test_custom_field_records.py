"""Custom fields on leads, deals, tickets and subscriptions: each record's form saves a value
through its service (the timeline names the field), its page shows it, its list has the column
and the filter, and a field limited to managers stays out of a rep's form."""

import datetime as dt

import pytest
from django.urls import reverse

from crm.services import custom_fields as services
from leads.models import Lead
from retention.models import Subscription
from sales.models import Opportunity
from support.models import Ticket
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.leads import LeadFactory
from tests.factories.retention import SubscriptionFactory
from tests.factories.sales import OpportunityFactory
from tests.factories.support import TicketFactory

pytestmark = pytest.mark.django_db


def _tier(admin, entity, **data):
    return services.custom_field_create(
        user=admin,
        entity=entity,
        label="Tier",
        kind="choice",
        choices=services.choices_from_text("gold | Gold\nsilver | Silver"),
        **data,
    )


def form_data(form) -> dict:
    """What a browser posts for ``form`` as it is shown (its initial values)."""
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if value in (None, "", [], False) or field.disabled:
            continue
        if isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        elif isinstance(value, dt.date):
            data[name] = value.isoformat()
        elif value is True:
            data[name] = "on"
        else:
            data[name] = str(value)
    return data


EDITS = {
    "lead": ("leads:lead_edit", lambda rep: LeadFactory(owner=rep)),
    "opportunity": ("sales:opportunity_edit", lambda rep: OpportunityFactory(owner=rep)),
    "subscription": (
        "retention:subscription_edit",
        lambda rep: SubscriptionFactory(account=AccountFactory(owner=rep), owner=rep),
    ),
}
LISTS = {
    "lead": ("leads:lead_list", "rep_client", lambda rep: LeadFactory(owner=rep)),
    "opportunity": (
        "sales:opportunity_list",
        "rep_client",
        lambda rep: OpportunityFactory(owner=rep),
    ),
    "subscription": (
        "retention:subscription_list",
        "rep_client",
        lambda rep: SubscriptionFactory(account=AccountFactory(owner=rep), owner=rep),
    ),
    "ticket": ("support:ticket_list", "agent_client", lambda rep: TicketFactory()),
}


@pytest.mark.parametrize("entity", list(EDITS))
def test_the_edit_form_saves_the_value_and_the_page_shows_it(rep_client, rep, admin, entity):
    url_name, make = EDITS[entity]
    _tier(admin, entity)
    record = make(rep)
    url = reverse(url_name, args=[record.pk])
    form = rep_client.get(url).context["form"]
    assert "cf_tier" in form.fields
    data = form_data(form) | {"cf_tier": "gold"}
    response = rep_client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    record.refresh_from_db()
    assert record.custom == {"tier": "gold"}
    page = rep_client.get(record.get_absolute_url()).content.decode()
    assert 'data-custom-field="tier">Tier</dt>' in page and "Gold" in page
    summaries = list(record.activities.values_list("summary", flat=True))
    assert any(s.startswith("Changed") and s.endswith("Tier") for s in summaries), summaries
    # A value the field does not take is the form's error; nothing changes.
    response = rep_client.post(url, data | {"cf_tier": "platinum"})
    assert response.status_code == 200
    record.refresh_from_db()
    assert record.custom == {"tier": "gold"}


def test_a_lead_created_with_a_value(rep_client, rep, admin):
    _tier(admin, "lead")
    form = rep_client.get(reverse("leads:lead_create")).context["form"]
    data = form_data(form) | {"last_name": "Lovelace", "cf_tier": "silver"}
    response = rep_client.post(reverse("leads:lead_create"), data)
    assert response.status_code == 302, response.context["form"].errors
    assert Lead.objects.get().custom == {"tier": "silver"}


def test_a_deal_created_with_a_value(rep_client, rep, admin):
    _tier(admin, "opportunity")
    account = AccountFactory(owner=rep)
    url = reverse("sales:opportunity_create")
    form = rep_client.get(url).context["form"]
    data = form_data(form) | {
        "name": "Big deal",
        "account": account.pk,
        "amount": "1000",
        "cf_tier": "gold",
    }
    response = rep_client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    assert Opportunity.objects.get().custom == {"tier": "gold"}


def test_a_subscription_created_with_a_value(rep_client, rep, admin):
    _tier(admin, "subscription")
    account = AccountFactory(owner=rep)
    url = reverse("retention:subscription_create")
    form = rep_client.get(url).context["form"]
    data = form_data(form) | {
        "account": account.pk,
        "plan": "Pro",
        "mrr": "100",
        "status": "active",
        "cf_tier": "gold",
    }
    response = rep_client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    assert Subscription.objects.get().custom == {"tier": "gold"}


def test_a_ticket_created_and_edited_with_a_value(agent_client, agent, admin):
    _tier(admin, "ticket")
    contact = ContactFactory()
    url = reverse("support:ticket_create")
    form = agent_client.get(url).context["form"]
    data = form_data(form) | {"subject": "Help", "contact": contact.pk, "cf_tier": "gold"}
    response = agent_client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    ticket = Ticket.objects.get()
    assert ticket.custom == {"tier": "gold"}
    page = agent_client.get(ticket.get_absolute_url()).content.decode()
    assert "Gold" in page and reverse("support:ticket_fields", args=[ticket.pk]) in page
    # Its fields page changes the value, and the timeline says which field changed.
    fields_url = reverse("support:ticket_fields", args=[ticket.pk])
    assert 'name="cf_tier"' in agent_client.get(fields_url).content.decode()
    response = agent_client.post(fields_url, {"cf_tier": "silver"})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.custom == {"tier": "silver"}
    assert ticket.activities.filter(summary="Changed Tier").exists()
    response = agent_client.post(fields_url, {"cf_tier": "platinum"})
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.custom == {"tier": "silver"}


@pytest.mark.parametrize("entity", list(LISTS))
def test_each_list_has_the_column_and_the_filter(request, rep, admin, entity):
    url_name, client_name, make = LISTS[entity]
    client = request.getfixturevalue(client_name)
    _tier(admin, entity)
    gold, silver = make(rep), make(rep)
    type(gold).objects.filter(pk=gold.pk).update(custom={"tier": "gold"})
    type(silver).objects.filter(pk=silver.pk).update(custom={"tier": "silver"})
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    assert "Tier" in [c.label for c in response.context["columns"]]
    assert 'data-custom-field="tier">Gold</td>' in response.content.decode()
    response = client.get(reverse(url_name), {"cf_tier": "gold"})
    assert [r.pk for r in response.context["object_list"]] == [gold.pk]


@pytest.mark.parametrize("entity", list(LISTS))
def test_every_list_writes_custom_cells_alike(request, rep, admin, entity):
    """Numbers stand to the right and long text is cut at 80 characters, on every list."""
    url_name, client_name, make = LISTS[entity]
    client = request.getfixturevalue(client_name)
    for label, kind in (("Seats", "number"), ("Motto", "text")):
        services.custom_field_create(user=admin, entity=entity, label=label, kind=kind)
    record = make(rep)
    motto = "<b>" + "x" * 100
    type(record).objects.filter(pk=record.pk).update(custom={"seats": 1200, "motto": motto})
    html = client.get(reverse(url_name)).content.decode()
    assert '<td class="small text-end" data-custom-field="seats">1,200</td>' in html
    assert f'<td class="small" data-custom-field="motto">&lt;b&gt;{"x" * 76}…</td>' in html


@pytest.mark.parametrize("entity", list(EDITS))
def test_a_rep_does_not_get_a_managers_field_on_the_form(rep_client, rep, admin, entity):
    url_name, make = EDITS[entity]
    _tier(admin, entity, roles=["Manager"])
    record = make(rep)
    type(record).objects.filter(pk=record.pk).update(custom={"tier": "gold"})
    url = reverse(url_name, args=[record.pk])
    form = rep_client.get(url).context["form"]
    assert "cf_tier" not in form.fields
    # Posting the field anyway changes nothing, and the page does not show it.
    rep_client.post(url, form_data(form) | {"cf_tier": "silver"})
    record.refresh_from_db()
    assert record.custom == {"tier": "gold"}
    assert "Gold" not in rep_client.get(record.get_absolute_url()).content.decode()
