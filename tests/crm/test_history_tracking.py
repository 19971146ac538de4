"""Field history is written by database triggers, with who made the change and through what."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.choices import Role
from crm.history import Source, source, untracked_writes
from crm.models import Account
from crm.models.history import FieldEvent
from crm.models.users import UserRoleEvent
from leads.choices import LeadStatus
from leads.models import Lead
from leads.services import imports
from leads.services.leads import leads_bulk_reassign, leads_bulk_set_status
from retention import tasks as retention_tasks
from sales.models import Opportunity
from tests.factories.crm import AccountFactory, UserFactory
from tests.factories.leads import LeadFactory
from tests.factories.retention import SubscriptionFactory
from tests.factories.sales import OpportunityFactory, stage_named

pytestmark = pytest.mark.django_db


def events(obj, label=None):
    rows = obj.history_events.select_related("pgh_context").order_by("pgh_id")
    return list(rows.filter(pgh_label=label) if label else rows)


def context(event) -> dict:
    return event.pgh_context.metadata if event.pgh_context else {}


def test_a_deal_edited_through_the_form_records_old_and_new_values_with_user_and_page(
    rep_client, rep
):
    deal = OpportunityFactory(owner=rep, amount=Decimal("1000.00"), next_step="Call")
    url = reverse("sales:opportunity_edit", args=[deal.pk])
    response = rep_client.post(
        url,
        {
            "name": deal.name,
            "account": deal.account_id,
            "owner": rep.pk,
            "stage": stage_named("Proposal").pk,
            "amount": "15000",
            "currency": "EUR",
            "probability": "",
            "forecast_category": deal.forecast_category,
            "next_step": "Send the proposal",
        },
    )
    assert response.status_code == 302
    updates = events(deal, "update")
    changes = {}
    for event in updates:
        changes.update(event.pgh_changes)
        assert context(event)["user"] == rep.pk
        assert context(event)["source"] == Source.PAGE
        assert context(event)["url"] == url
    assert changes["amount"] == [1000.0, 15000.0]
    assert changes["next_step"] == ["Call", "Send the proposal"]
    assert changes["stage"] == [stage_named("Qualification").pk, stage_named("Proposal").pk]
    assert "updated_at" not in changes


def test_only_tracked_fields_leave_a_row():
    lead = LeadFactory()
    Lead.objects.filter(pk=lead.pk).update(score=77, grade="A")  # the nightly scores
    assert events(lead, "update") == []
    Lead.objects.filter(pk=lead.pk).update(company_name="Initech")
    (event,) = events(lead, "update")
    assert event.pgh_changes == {"company_name": [lead.company_name, "Initech"]}
    assert context(event) == {}  # outside a page, task or service block: shell / command


def test_bulk_reassign_through_queryset_update_is_recorded_as_a_bulk_edit(rep, rep2, manager):
    leads = LeadFactory.create_batch(3, owner=rep)
    leads_bulk_reassign(leads=Lead.objects.all(), owner=rep2, user=manager)
    for lead in leads:
        (event,) = events(lead, "update")
        assert event.pgh_changes["owner"] == [rep.pk, rep2.pk]
        assert context(event)["source"] == Source.BULK_EDIT
        assert context(event)["user"] == manager.pk


def test_bulk_status_inside_a_request_context_is_its_own_context(rep):
    lead = LeadFactory(owner=rep, status=LeadStatus.NEW)
    account = AccountFactory(owner=rep, name="Before")
    with source(Source.PAGE, user=rep, url="/leads/bulk/"):
        Account.objects.filter(pk=account.pk).update(name="During")
        leads_bulk_set_status(
            leads=Lead.objects.filter(pk=lead.pk), status=LeadStatus.WORKING, user=rep
        )
        Account.objects.filter(pk=account.pk).update(name="After")
    lead_event = events(lead, "update")[0]
    assert lead_event.pgh_changes["status"] == [LeadStatus.NEW, LeadStatus.WORKING]
    assert context(lead_event)["source"] == Source.BULK_EDIT
    assert context(lead_event)["user"] == rep.pk
    # The page's own changes, before and after the bulk block, stay the page's.
    assert [context(e)["source"] for e in events(account, "update")] == [Source.PAGE] * 2


def test_the_lead_import_records_inserts_and_updates_as_import_by_its_uploader(admin):
    known = LeadFactory(email="ada@engine.example", last_name="Lovelace", title="")
    text = (
        "First name,Last name,E-mail,Title\n"
        "Ada,Lovelace,ada@engine.example,Countess\n"
        "Alan,Turing,alan@bletchley.example,\n"
    )
    upload = SimpleUploadedFile("leads.csv", text.encode(), content_type="text/csv")
    job = imports.import_job_create(user=admin, upload=upload, policy="update")
    imports.import_run(job_id=job.pk)
    (update,) = events(known, "update")
    assert update.pgh_changes["title"] == ["", "Countess"]
    new = Lead.objects.get(email="alan@bletchley.example")
    (insert,) = events(new, "insert")
    for event in (update, insert):
        assert context(event)["source"] == Source.IMPORT
        assert context(event)["user"] == admin.pk
        assert context(event)["job"] == job.pk


def test_a_service_called_by_a_celery_task_is_recorded_as_automation_with_the_task_name(rep):
    subscription = SubscriptionFactory(account=AccountFactory(owner=rep))
    assert retention_tasks.renewal_open.apply(args=[subscription.pk]).get() is True
    deal = Opportunity.objects.get()
    (insert,) = events(deal, "insert")
    assert context(insert)["source"] == Source.AUTOMATION
    assert context(insert)["task"] == "retention.tasks.renewal_open"
    assert insert.owner_id == rep.pk


def test_deletes_and_role_changes_are_recorded(admin):
    account = AccountFactory(name="Gone Ltd")
    pk = account.pk
    with source(Source.COMMAND, user=admin):
        account.delete()
    event_model = Account.pgh_event_models["delete"]
    (deleted,) = event_model.objects.filter(pgh_obj_id=pk, pgh_label="delete")
    assert deleted.name == "Gone Ltd" and deleted.pgh_context.metadata["source"] == "command"

    user = UserFactory(roles=[])
    with source(Source.PAGE, user=admin):
        user.groups.add(Group.objects.get(name=Role.MANAGER))
        user.groups.clear()
    rows = list(UserRoleEvent.objects.filter(user_id=user.pk).order_by("pgh_id"))
    assert [(r.pgh_label, r.group.name) for r in rows] == [
        ("insert", Role.MANAGER),
        ("delete", Role.MANAGER),
    ]
    assert all(r.pgh_context.metadata["user"] == admin.pk for r in rows)


def test_event_models_share_the_field_event_base():
    assert issubclass(Opportunity.pgh_event_models["update"], FieldEvent)


def test_untracked_writes_turns_the_update_history_off_only_for_its_block():
    lead = LeadFactory(company_name="Acme")
    with untracked_writes(Lead, {"quality", "match_name"}):
        Lead.objects.filter(pk=lead.pk).update(quality=7, match_name="acme")
    assert events(lead, "update") == []
    Lead.objects.filter(pk=lead.pk).update(company_name="Acme Ltd")
    (update,) = events(lead, "update")
    assert update.pgh_changes == {"company_name": ["Acme", "Acme Ltd"]}


def test_untracked_writes_refuses_a_tracked_column():
    block = untracked_writes(Lead, {"quality", "company_name"})
    with pytest.raises(ValueError, match="company_name"):
        block.__enter__()
