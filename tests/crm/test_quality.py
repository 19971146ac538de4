"""Data quality: the score of a lead, contact or account, kept by the services and the daily
refresh, shown on lists (column, filter, "worst first", summary) and detail pages."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from crm.models import Account, Contact
from crm.normalize import normalize_phone, phone_is_valid
from crm.quality import quality_of
from crm.services.customers import account_create, contact_create, contact_update
from crm.services.quality import quality_refresh
from leads.models import Lead
from leads.services.leads import lead_create, lead_update
from tests.api.conftest import client_for
from tests.factories.crm import AccountFactory, ContactFactory, UserFactory
from tests.factories.leads import LeadFactory

NOW = timezone.now()


class _Meta:
    def __init__(self, label):
        self.label_lower = label


def record(kind="leads.lead", **values):
    """An unsaved lead, contact or account stand-in: the score reads attributes only."""
    base = {
        "leads.lead": {
            "first_name": "Anna",
            "last_name": "Berg",
            "email": "anna.berg@acme-tools.de",
            "phone": "+4930123456",
            "company_name": "Acme Tools GmbH",
            "title": "Head of Purchasing",
            "country": "DE",
            "owner_id": 1,
            "updated_at": NOW,
            "last_activity_at": None,
        },
        "crm.contact": {
            "first_name": "Anna",
            "last_name": "Berg",
            "email": "anna.berg@acme-tools.de",
            "phone": "+4930123456",
            "title": "CFO",
            "account_id": 1,
            "owner_id": 1,
            "updated_at": NOW,
        },
        "crm.account": {
            "name": "Acme Tools",
            "domain": "acme-tools.de",
            "industry": "manufacturing",
            "size_band": "51-200",
            "country": "DE",
            "owner_id": 1,
            "updated_at": NOW,
        },
    }[kind]
    obj = SimpleNamespace(**{**base, **values})
    obj._meta = _Meta(kind)
    return obj


@pytest.mark.parametrize(
    ("kind", "values", "low", "high", "reason"),
    [
        # A complete, valid, recently touched record is perfect.
        ("leads.lead", {}, 100, 100, None),
        ("crm.contact", {}, 100, 100, None),
        ("crm.account", {}, 100, 100, None),
        # No way to reach the person: poor.
        ("leads.lead", {"email": "", "phone": ""}, 0, 49, "no email or phone to reach them"),
        ("crm.contact", {"email": "", "phone": ""}, 0, 49, "missing email, phone"),
        # One good way to reach them is enough for validity; the other is missing.
        ("leads.lead", {"phone": ""}, 85, 95, "missing phone"),
        # Broken details cost their share of validity.
        ("leads.lead", {"phone": "+4912"}, 70, 85, "phone is not a valid number"),
        ("crm.contact", {"phone": "+1 555 0100"}, 70, 85, "phone is not a valid number"),
        ("leads.lead", {"email": "anna@localhost"}, 70, 85, "email domain does not look valid"),
        ("leads.lead", {"email": "anna at acme.de"}, 70, 85, "email is not a valid address"),
        ("crm.contact", {"email": "info@acme-tools.de"}, 85, 95, "shared mailbox (info@)"),
        # A national number is read in the record's country.
        ("leads.lead", {"phone": "030 123456", "country": "DE"}, 100, 100, None),
        ("crm.account", {"domain": "acme_tools"}, 70, 80, "website domain does not look valid"),
        ("crm.account", {"industry": "", "size_band": ""}, 80, 82, "missing industry, size"),
        # Staleness: untouched records lose freshness points band by band.
        ("leads.lead", {"updated_at": NOW - timedelta(days=100)}, 92, 92, "not touched for 100"),
        ("crm.contact", {"updated_at": NOW - timedelta(days=210)}, 85, 85, "not updated for 210"),
        ("crm.account", {"updated_at": NOW - timedelta(days=400)}, 80, 80, "not updated for 400"),
        # A lead's last activity counts as a touch.
        (
            "leads.lead",
            {"updated_at": NOW - timedelta(days=400), "last_activity_at": NOW - timedelta(days=3)},
            100,
            100,
            None,
        ),
        # Everything wrong at once.
        (
            "leads.lead",
            {
                "first_name": "",
                "email": "",
                "phone": "",
                "company_name": "",
                "title": "",
                "country": "",
                "owner_id": None,
                "updated_at": NOW - timedelta(days=500),
            },
            0,
            10,
            "missing first name, email, phone, company, job title, country, owner",
        ),
    ],
)
def test_score_parts_and_reasons(kind, values, low, high, reason):
    quality = quality_of(record(kind, **values), now=NOW)
    assert low <= quality.score <= high, quality
    assert sum(part.out_of for part in quality.parts) == 100
    assert [part.name for part in quality.parts] == ["Completeness", "Validity", "Freshness"]
    if reason is None:
        assert quality.reasons == []
    else:
        assert any(reason in text for text in quality.reasons), quality.reasons


@pytest.mark.parametrize(
    "phone, region, valid",
    [
        ("030 12345678", "DE", True),
        ("+49 30 12345678", "", True),
        ("+4930123456789012345", "", False),
        ("(212) 736-5000", "", True),
        ("hello", "US", False),
        ("", "US", False),
    ],
)
def test_phone_validity(phone, region, valid):
    assert phone_is_valid(phone, region) is valid


def test_a_number_just_normalised_is_known_valid_in_any_region():
    e164 = normalize_phone("030 12345678", "DE")
    assert phone_is_valid(e164, "US")


def test_score_bands():
    assert quality_of(record(), now=NOW).band == "good"
    assert quality_of(record(phone="", email=""), now=NOW).band == "poor"
    fair = quality_of(record(phone="+4912", title="", country=""), now=NOW)
    assert fair.band == "fair" and 50 <= fair.score < 80


# --- stored by the services ---------------------------------------------------------------


def test_services_store_the_score_on_create_and_update(rep):
    lead = lead_create(user=rep, last_name="Berg", company_name="Acme")
    assert lead.quality is not None and lead.quality < 50
    assert Lead.objects.get(pk=lead.pk).quality == lead.quality
    lead_update(
        lead=lead,
        user=rep,
        first_name="Anna",
        email="anna@acme-tools.de",
        phone="+4930123456",
        title="CFO",
        country="DE",
    )
    assert Lead.objects.get(pk=lead.pk).quality == 100

    account = account_create(user=rep, name="Acme Tools")
    assert Account.objects.get(pk=account.pk).quality == 10 + 7 + 20  # name, owner, fresh
    contact = contact_create(user=rep, last_name="Berg")
    low = Contact.objects.get(pk=contact.pk).quality
    contact_update(contact=contact, user=rep, email="anna@acme-tools.de", account=account)
    assert Contact.objects.get(pk=contact.pk).quality > low


def test_rescoring_records_no_field_history(rep):
    # Given a lead whose band moved
    lead = LeadFactory(owner=rep)
    events = lead.history_events.count()
    Lead.objects.filter(pk=lead.pk).update(updated_at=NOW - timedelta(days=200))
    # When the refresh rescores it
    quality_refresh(now=NOW)
    # Then its score changed, its "last changed" did not, and no field change was recorded
    lead.refresh_from_db()
    assert lead.quality_age_band == 2
    assert lead.updated_at < NOW - timedelta(days=199)
    assert lead.history_events.count() == events


# --- the daily refresh ---------------------------------------------------------------------


def test_daily_refresh_lowers_stale_records_and_is_idempotent(rep):
    # Given records scored when fresh, then left untouched for 200 days
    lead = LeadFactory(owner=rep)
    contact = ContactFactory(owner=rep)
    fresh = Lead.objects.get(pk=lead.pk).quality
    old = NOW - timedelta(days=200)
    Lead.objects.filter(pk=lead.pk).update(updated_at=old)
    Contact.objects.filter(pk=contact.pk).update(updated_at=old)
    Account.objects.filter(pk=contact.account_id).update(updated_at=NOW - timedelta(days=10))
    # When the daily job runs
    done = quality_refresh(now=NOW)
    # Then only the records that crossed a band are rescored, and lower
    assert done == {"leads.Lead": 1, "crm.Contact": 1, "crm.Account": 0}
    lead.refresh_from_db()
    assert lead.quality == fresh - 15 and lead.quality_age_band == 2
    assert Contact.objects.get(pk=contact.pk).quality_age_band == 2
    # And a second run finds nothing to do
    assert quality_refresh(now=NOW) == {"leads.Lead": 0, "crm.Contact": 0, "crm.Account": 0}


def test_daily_refresh_raises_a_lead_touched_again_and_scores_unscored_rows(rep):
    lead = LeadFactory(owner=rep)
    Lead.objects.filter(pk=lead.pk).update(updated_at=NOW - timedelta(days=400))
    quality_refresh(now=NOW)
    assert Lead.objects.get(pk=lead.pk).quality_age_band == 3
    # An activity (set around the services) makes it fresh again on the next run
    Lead.objects.filter(pk=lead.pk).update(last_activity_at=NOW - timedelta(days=1))
    # A row written around the services has no score yet
    Contact.objects.filter(pk=ContactFactory(owner=rep).pk).update(
        quality=None, quality_age_band=None
    )
    done = quality_refresh(now=NOW)
    assert done["leads.Lead"] == 1 and done["crm.Contact"] == 1
    assert Lead.objects.get(pk=lead.pk).quality_age_band == 0
    assert not Contact.objects.filter(quality__isnull=True).exists()


def test_refresh_is_on_the_beat_schedule_and_the_command_rescores_everything(rep, capsys):
    assert settings.CELERY_BEAT_SCHEDULE["quality-refresh"]["task"] == "crm.tasks.quality_refresh"
    lead = LeadFactory(owner=rep)
    Lead.objects.filter(pk=lead.pk).update(quality=3, quality_age_band=0)
    call_command("quality_refresh")
    assert Lead.objects.get(pk=lead.pk).quality > 3
    assert "leads: 1 read, 1 rescored" in capsys.readouterr().out


def test_refresh_task_runs_the_service(rep):
    from crm.tasks import quality_refresh as task

    lead = LeadFactory(owner=rep)
    Lead.objects.filter(pk=lead.pk).update(quality=None, quality_age_band=None)
    assert task.apply().get()["leads.Lead"] == 1


# --- lists ---------------------------------------------------------------------------------


def _leads_of_every_quality(owner):
    good = LeadFactory(owner=owner, phone="+4930123456")
    fair = LeadFactory(owner=owner, title="", country="", phone="+4912")
    poor = LeadFactory(owner=owner, email="", phone="", title="")
    return good, fair, poor


@pytest.mark.parametrize("rows", [1, 20])
def test_lead_list_filters_and_sorts_worst_first_with_a_fixed_query_count(
    rows, rep_client, rep, django_assert_max_num_queries
):
    other = UserFactory(username="someone-else")
    for _ in range(rows):
        good, fair, poor = _leads_of_every_quality(rep)
        _leads_of_every_quality(other)  # not the rep's: never in their lists
    url = reverse("leads:lead_list")
    # 12, and the custom field definitions (the columns and filters admins add)
    with django_assert_max_num_queries(13):
        response = rep_client.get(url, {"quality": "poor", "sort": "quality"})
    shown = response.context["object_list"]
    assert len(shown) == rows and all(lead.quality < 50 for lead in shown)
    assert all(lead.owner_id == rep.pk for lead in shown)
    summary = response.context["quality_summary"]
    assert summary.rows == rows and summary.poor_share == 100
    assert b"Worst first" in response.content

    response = rep_client.get(url, {"sort": "quality"})
    scores = [lead.quality for lead in response.context["object_list"]]
    assert scores == sorted(scores) and len(scores) == min(3 * rows, 50)
    assert response.context["quality_summary"].rows == 3 * rows
    assert b'class="badge text-bg-danger"' in response.content

    response = rep_client.get(url, {"quality": "fair"})
    assert {lead.pk for lead in response.context["object_list"]} <= set(
        Lead.objects.filter(owner=rep, quality__gte=50, quality__lt=80).values_list("pk", flat=True)
    )
    assert rep_client.get(url, {"quality": "bogus"}).status_code == 200


@pytest.mark.parametrize("url", ["contact_list", "account_list"])
def test_contact_and_account_lists_show_quality_and_filter_it(
    url, rep_client, rep, django_assert_max_num_queries
):
    ContactFactory(owner=rep)
    poor_contact = ContactFactory(owner=rep, email="", phone="", title="", account=None)
    AccountFactory(owner=rep, domain="", industry="", size_band="", country="")
    with django_assert_max_num_queries(12):  # and the saved views menu and the bell's unread count
        response = rep_client.get(reverse(url), {"quality": "poor", "sort": "quality"})
    assert response.status_code == 200
    shown = response.context["object_list"]
    assert len(shown) == 1 and shown[0].quality < 50
    if url == "contact_list":
        assert shown[0].pk == poor_contact.pk
    assert response.context["quality_summary"].poor_share == 100
    assert b"Quality" in response.content


def test_sorting_by_quality_uses_the_index(rep):
    # Given tables too small for the planner to prefer an index on its own, most leads another
    # rep's, with statistics, so the plan does not depend on the planner's guesses
    LeadFactory.create_batch(3, owner=rep)
    LeadFactory.create_batch(30, owner=UserFactory(username="another-rep"))
    ContactFactory.create_batch(3, owner=rep)
    with connection.cursor() as cursor:
        for model in (Lead, Contact, Account):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
    # Then "worst first" reads an index in order, with no sort of the whole list
    plans = {
        "lead": Lead.objects.visible_to(rep).order_by("quality", "id")[:50].explain(),
        "contact": Contact.objects.order_by("quality", "id")[:50].explain(),
        "account": Account.objects.order_by("-quality", "-id")[:50].explain(),
    }
    assert "lead_owner_quality_idx" in plans["lead"], plans["lead"]
    assert "contact_quality_idx" in plans["contact"], plans["contact"]
    assert "account_quality_idx" in plans["account"], plans["account"]
    assert not any("Sort Key" in plan for plan in plans.values())


def test_summary_reads_a_bounded_sample_of_long_lists(rep_client, rep, settings):
    settings.QUALITY_SUMMARY_ROWS = 2
    ContactFactory.create_batch(3, owner=rep)
    response = rep_client.get(reverse("contact_list"))
    summary = response.context["quality_summary"]
    assert summary.rows == 2 and summary.sampled
    assert b"from 2 of the rows" in response.content


def test_api_lists_filter_and_order_by_quality(rep):
    _leads_of_every_quality(rep)
    _leads_of_every_quality(UserFactory(username="another-rep"))
    api = client_for(rep)
    response = api.get("/api/v1/leads/", {"quality": "poor", "ordering": "quality"})
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert len(rows) == 1 and rows[0]["quality"] < 50
    response = api.get("/api/v1/contacts/", {"quality": "nonsense"})
    assert response.status_code == 400


# --- detail pages --------------------------------------------------------------------------


def test_detail_pages_show_the_score_with_reasons_and_a_link_to_edit(rep_client, rep):
    lead = LeadFactory(owner=rep, phone="", title="")
    response = rep_client.get(lead.get_absolute_url())
    text = response.content.decode()
    assert 'id="data-quality"' in text and "missing phone, job title" in text
    assert reverse("leads:lead_edit", args=[lead.pk]) in text

    contact = ContactFactory(owner=rep, phone="")
    Contact.objects.filter(pk=contact.pk).update(updated_at=NOW - timedelta(days=210))
    text = rep_client.get(contact.get_absolute_url()).content.decode()
    assert "not updated for 210 days" in text and "missing phone" in text

    account = AccountFactory(owner=UserFactory(username="not-the-rep"), domain="")
    text = rep_client.get(account.get_absolute_url()).content.decode()
    assert "no website domain to check" in text
    assert "Fix these details" not in text  # the rep may not change it


def test_a_rep_never_sees_others_leads_in_the_worst_list(rep_client, rep, rep2):
    mine = LeadFactory(owner=rep, email="", phone="")
    theirs = LeadFactory(owner=rep2, email="", phone="")
    response = rep_client.get(reverse("leads:lead_list"), {"quality": "poor", "sort": "quality"})
    shown = {lead.pk for lead in response.context["object_list"]}
    assert mine.pk in shown and theirs.pk not in shown
    assert rep_client.get(theirs.get_absolute_url()).status_code == 404


@pytest.mark.django_db
def test_demo_seed_scores_every_record():
    call_command("seed_demo", "--scale", "0.05", "--force", "--anchor-date", "2025-03-14")
    for model in (Lead, Contact, Account):
        assert not model.objects.filter(quality__isnull=True).exists()
        assert model.objects.values("quality").distinct().count() > 3  # real, varied scores
