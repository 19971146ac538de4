"""Leads as files (registered in ``leads.apps``): the list's export and the generic import.

Creating a lead goes through ``lead_create`` with ``on_duplicate="raise"``, the duplicate check
of the lead form (``leads.services.dedupe``, judged by ``crm.matching``): a row that is surely a
lead or contact already there is reported with the reasons, not created; one only likely the same
is created and flagged. Consents are dated
by the service as in the form. The bulk CSV import (``leads.services.imports``) stays the way to
load large lists of new leads quickly; this kind serves exports and their round trip.
"""

from crm import registry
from crm.choices import Industry
from crm.normalize import normalize_domain, normalize_email
from crm.permissions import may_sell
from crm.tabular import columns as c
from crm.tabular.kinds import RecordKind
from crm.tabular.records import created_column, owner_column
from leads.choices import LeadSource, LeadStatus
from leads.models import Campaign, Lead
from leads.selectors import lead_list
from leads.services import leads as lead_services


def _campaigns(user):
    return Campaign.objects.visible_to(user)


def _create(*, user, data):
    if not data.get("source"):
        data["source"] = LeadSource.IMPORT
    return lead_services.lead_create(user=user, on_duplicate="raise", **data)


def _update(*, record, user, data):
    return lead_services.lead_update(lead=record, user=user, **data)


LEADS = RecordKind(
    name="leads",
    label="Leads",
    model=Lead,
    columns=(
        c.record_id(),
        c.text("first_name", "First name", max_length=100),
        c.text("last_name", "Last name", max_length=100, required=True),
        c.text("email", "Email", max_length=254, clean=normalize_email, aliases=("e-mail",)),
        c.text("phone", "Phone", max_length=40),
        c.text("title", "Job title", max_length=150),
        c.text("company_name", "Company", max_length=200, aliases=("company",)),
        c.text("website", "Website", max_length=253, clean=normalize_domain),
        c.choice("industry", "Industry", Industry),
        c.integer("employees", "Employees", maximum=9_999_999),
        c.country("country", "Country"),
        c.choice("source", "Source", LeadSource),
        c.record("campaign", "Campaign", queryset=_campaigns, key="slug", noun="campaign"),
        owner_column(),
        c.readonly("status", "Status", cell=lambda v: LeadStatus(v).label if v else ""),
        c.readonly("score", "Score"),
        c.decimal("budget_amount", "Budget", aliases=("budget",)),
        c.boolean("email_consent", "Email consent"),
        c.boolean("marketing_consent", "Marketing consent"),
        created_column(),
    ),
    keys=("id", "email"),
    selector=lead_list,
    create=_create,
    update=_update,
    may_import=may_sell,
    list_url="leads:lead_list",
)


def register() -> None:
    registry.tabular.register(LEADS)
