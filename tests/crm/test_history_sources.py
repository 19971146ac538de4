"""One record changed four ways (the edit form, a bulk edit, a file import, the API) keeps four
history rows, each with its old and new values, who, and through what. Also the audit lines of
API tokens, webhook endpoints and exports."""

from decimal import Decimal

import pytest
from django.urls import reverse

from crm.choices import AuditAction
from crm.history import Source
from crm.models import AuditEvent
from crm.services.api_tokens import api_token_revoke
from crm.services.webhooks import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)
from leads.models import Lead
from leads.services.leads import leads_bulk_reassign
from tests.api.conftest import client_for
from tests.factories.leads import LeadFactory
from tests.factories.sales import OpportunityFactory, stage_named
from tests.tabular.conftest import csv_bytes, import_file

pytestmark = pytest.mark.django_db


def updates(obj) -> list[tuple[dict, dict]]:
    rows = obj.history_events.filter(pgh_label="update").select_related("pgh_context")
    rows = rows.order_by("pgh_id")
    return [(e.pgh_changes, e.pgh_context.metadata if e.pgh_context else {}) for e in rows]


def test_a_deal_changed_by_form_import_and_api_keeps_a_row_for_each_with_its_source(
    rep_client, rep
):
    deal = OpportunityFactory(owner=rep, amount=Decimal("1000.00"), next_step="Call")
    form = rep_client.post(
        reverse("sales:opportunity_edit", args=[deal.pk]),
        {
            "name": deal.name,
            "account": deal.account_id,
            "owner": rep.pk,
            "stage": stage_named("Qualification").pk,
            "amount": "1000",
            "currency": deal.currency,
            "probability": "",
            "forecast_category": deal.forecast_category,
            "next_step": "Demo",
        },
    )
    assert form.status_code == 302

    job = import_file(rep, "opportunities", csv_bytes([["id", "next_step"], [deal.pk, "Quote"]]))
    assert job.updated_count == 1, job.message

    api = client_for(rep)
    answer = api.patch(f"/api/v1/opportunities/{deal.pk}/", {"next_step": "Sign"}, format="json")
    assert answer.status_code == 200, answer.content

    rows = [(changes["next_step"], meta) for changes, meta in updates(deal)]
    assert [values for values, _meta in rows] == [
        ["Call", "Demo"],
        ["Demo", "Quote"],
        ["Quote", "Sign"],
    ]
    assert [meta["source"] for _values, meta in rows] == [
        Source.PAGE,
        Source.IMPORT,
        Source.API,
    ]
    assert all(meta["user"] == rep.pk for _values, meta in rows)
    assert rows[1][1]["job"] == job.pk


def test_a_bulk_edit_keeps_a_row_with_its_source(rep, rep2, manager):
    lead = LeadFactory(owner=rep)
    leads_bulk_reassign(leads=Lead.objects.filter(pk=lead.pk), owner=rep2, user=manager)
    [(changes, meta)] = updates(lead)
    assert changes["owner"] == [rep.pk, rep2.pk]
    assert meta["source"] == Source.BULK_EDIT and meta["user"] == manager.pk


def audit_lines(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_api_tokens_leave_audit_lines_when_created_and_revoked(rep_client, rep):
    answer = rep_client.post(
        reverse("api_token_create"), {"name": "billing", "scope": "read", "days": 30}
    )
    assert answer.status_code in (200, 302)
    [created] = audit_lines(AuditAction.API_TOKEN_CREATED)
    assert created.actor == rep and created.target_user == rep
    assert created.detail["name"] == "billing"
    token = rep.api_tokens.get()
    api_token_revoke(token=token, user=rep)
    api_token_revoke(token=token, user=rep)  # a second revoke changes nothing
    assert len(audit_lines(AuditAction.API_TOKEN_REVOKED)) == 1


def test_webhook_endpoint_changes_leave_audit_lines(admin, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    endpoint = webhook_endpoint_create(user=admin, url="http://127.0.0.1:9/hook")
    webhook_endpoint_update(endpoint=endpoint, user=admin, description="Billing")
    webhook_endpoint_rotate_secret(endpoint=endpoint, user=admin)
    webhook_endpoint_delete(endpoint=endpoint, user=admin)
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [
        AuditAction.WEBHOOK_CREATED,
        AuditAction.WEBHOOK_CHANGED,
        AuditAction.WEBHOOK_SECRET_ROTATED,
        AuditAction.WEBHOOK_DELETED,
    ]
    assert "secret" not in str(AuditEvent.objects.values_list("detail", flat=True))


def test_an_export_leaves_an_audit_line_with_its_filters(rep_client, rep):
    LeadFactory(owner=rep)
    response = rep_client.get(reverse("leads:lead_list"), {"export": "csv", "status": "new"})
    assert response.status_code == 200
    [line] = audit_lines(AuditAction.RECORDS_EXPORTED)
    assert line.actor == rep
    assert line.detail["kind"] == "leads" and "status=new" in line.detail["filters"]
