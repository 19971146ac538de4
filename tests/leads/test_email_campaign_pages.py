"""The email campaign pages: list, create/edit with variants, audience size and preview,
scheduling, the campaign's page with progress, A/B results and ROI; visibility by role."""

import html
import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.choices import Role
from leads.choices import EmailCampaignStatus, RecipientStatus, SkipReason
from leads.models import CampaignRecipient, EmailCampaign
from tests.factories.crm import ContactFactory, TeamFactory, UserFactory
from tests.factories.email_campaigns import (
    CampaignRecipientFactory,
    EmailCampaignFactory,
    EmailVariantFactory,
    SuppressionFactory,
)
from tests.factories.leads import CampaignFactory
from tests.factories.segments import SegmentFactory
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db

LIST = reverse("leads:email_campaign_list")
CREATE = reverse("leads:email_campaign_create")


def form_data(*, campaign, segment, variants, **overrides):
    data = {
        "name": "Spring offer",
        "campaign": campaign.pk,
        "segment": segment.pk,
        "rate_per_minute": 100,
        "track_opens": "on",
        "test_percent": 100,
        "winner_after_hours": "",
        "variant-TOTAL_FORMS": 4,
        "variant-INITIAL_FORMS": 0,
        "variant-MIN_NUM_FORMS": 0,
        "variant-MAX_NUM_FORMS": 4,
    }
    for i in range(4):
        subject, body = variants[i] if i < len(variants) else ("", "")
        data[f"variant-{i}-subject"] = subject
        data[f"variant-{i}-body"] = body
    data.update(overrides)
    return data


@pytest.fixture
def segment(manager):
    return SegmentFactory(owner=manager, name="VPs")


@pytest.fixture
def mine(manager, segment):
    campaign = EmailCampaignFactory(created_by=manager, segment=segment)
    EmailVariantFactory(campaign=campaign, label="A", subject="A {{ first_name }}")
    EmailVariantFactory(campaign=campaign, label="B", subject="B {{ first_name }}")
    return campaign


def test_manager_drafts_an_ab_campaign(manager_client, manager, segment):
    marketing = CampaignFactory()
    data = form_data(
        campaign=marketing,
        segment=segment,
        variants=[("Hi {{ first_name }}", "Body A"), ("Hello {{ first_name }}", "Body B")],
        test_percent=20,
        winner_after_hours=4,
    )
    response = manager_client.post(CREATE, data)

    campaign = EmailCampaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == campaign.get_absolute_url()
    assert campaign.status == EmailCampaignStatus.DRAFT
    assert campaign.created_by == manager
    assert campaign.test_fraction == Decimal("0.2")
    assert campaign.winner_after_hours == 4
    assert list(campaign.variants.values_list("label", "subject")) == [
        ("A", "Hi {{ first_name }}"),
        ("B", "Hello {{ first_name }}"),
    ]


@pytest.mark.parametrize(
    ("overrides", "variants", "message"),
    [
        ({}, [], "Write at least one variant"),
        ({}, [("Hi", "")], "A variant with a subject needs a body."),
        ({}, [("Hi {% load static %}", "x")], "is not allowed in email templates"),
        ({}, [("Hi {% if %}x", "x")], "This template does not work"),
        ({"test_percent": 50}, [("A", "a"), ("B", "b")], "needs a winner step"),
        ({"winner_after_hours": 3}, [("A", "a")], "needs at least two variants"),
        ({"rate_per_minute": 0}, [("A", "a")], "greater than or equal to 1"),
    ],
)
def test_bad_input_re_renders_with_the_reason_and_keeps_what_was_typed(
    manager_client, segment, overrides, variants, message
):
    data = form_data(campaign=CampaignFactory(), segment=segment, variants=variants, **overrides)
    response = manager_client.post(CREATE, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert "Spring offer" in response.content.decode()
    assert not EmailCampaign.objects.exists()


def test_a_private_segment_of_another_team_cannot_be_the_audience(manager_client, segment):
    stranger = UserFactory(roles=[Role.MANAGER])
    private = SegmentFactory(owner=stranger, shared=False)
    data = form_data(campaign=CampaignFactory(), segment=private, variants=[("A", "a")])
    response = manager_client.post(CREATE, data)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not EmailCampaign.objects.exists()
    # and its size is not disclosed either
    audience = manager_client.get(reverse("leads:email_campaign_audience"), {"segment": private.pk})
    assert "Choose a segment" in audience.content.decode()


def test_edit_a_draft_rewrites_its_variants(manager_client, mine, segment):
    data = form_data(
        campaign=mine.campaign, segment=segment, variants=[("Only one", "body")], name="Renamed"
    )
    response = manager_client.post(reverse("leads:email_campaign_edit", args=[mine.pk]), data)
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.name == "Renamed"
    assert list(mine.variants.values_list("label", "subject")) == [("A", "Only one")]


def test_a_scheduled_campaign_is_not_edited(manager_client, mine, segment):
    EmailCampaign.objects.filter(pk=mine.pk).update(status=EmailCampaignStatus.SCHEDULED)
    url = reverse("leads:email_campaign_edit", args=[mine.pk])
    response = manager_client.post(
        url, form_data(campaign=mine.campaign, segment=segment, variants=[("x", "y")])
    )
    assert response.status_code == 302
    assert mine.variants.count() == 2


def test_audience_shows_the_live_size_and_consenting_count(manager_client, segment):
    ContactFactory.create_batch(3, title="VP Sales", marketing_consent=True)
    ContactFactory(title="VP Ops", marketing_consent=False)
    ContactFactory(title="Engineer", marketing_consent=True)
    response = manager_client.get(reverse("leads:email_campaign_audience"), {"segment": segment.pk})
    body = response.content.decode()
    assert 'data-size="4"' in body
    assert 'data-consenting="3"' in body


def test_preview_renders_merge_fields_for_a_consenting_member(manager_client, segment):
    ContactFactory(title="VP Ops", marketing_consent=False, first_name="Nope")
    ContactFactory(title="VP Sales", marketing_consent=True, first_name="Greta")
    response = manager_client.post(
        reverse("leads:email_campaign_preview"),
        {
            "segment": segment.pk,
            "slot": "1",
            "variant-1-subject": "Hi {{ first_name }}",
            "variant-1-body": "Dear {{ first_name }}, <b>news</b>",
        },
    )
    body = response.content.decode()
    assert "Hi Greta" in body
    # the author writes HTML, shown as sent in a sandboxed frame
    assert "<p>Dear Greta, <b>news</b></p>" in html.unescape(body.split('srcdoc="')[1])
    bad = manager_client.post(
        reverse("leads:email_campaign_preview"),
        {"segment": segment.pk, "slot": "0", "variant-0-subject": "{% include 'x' %}"},
    )
    assert bad.status_code == 200
    assert "does not work" in bad.content.decode()


def test_send_now_schedules_and_cancel_stops(manager_client, mine):
    response = manager_client.post(
        reverse("leads:email_campaign_schedule", args=[mine.pk]), {"at": ""}
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.status == EmailCampaignStatus.SCHEDULED
    assert abs(mine.scheduled_at - timezone.now()) < timedelta(minutes=1)

    manager_client.post(reverse("leads:email_campaign_unschedule", args=[mine.pk]))
    mine.refresh_from_db()
    assert (mine.status, mine.scheduled_at) == (EmailCampaignStatus.DRAFT, None)

    manager_client.post(reverse("leads:email_campaign_cancel", args=[mine.pk]))
    mine.refresh_from_db()
    assert mine.status == EmailCampaignStatus.CANCELLED
    # A cancelled campaign cannot be scheduled again: a message, not an error page
    response = manager_client.post(
        reverse("leads:email_campaign_schedule", args=[mine.pk]), {"at": ""}, follow=True
    )
    assert response.status_code == 200
    assert "cannot become" in response.content.decode()


def test_schedule_in_the_past_is_refused(manager_client, mine):
    past = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = manager_client.post(
        reverse("leads:email_campaign_schedule", args=[mine.pk]), {"at": past}, follow=True
    )
    assert "That time has passed" in response.content.decode()
    mine.refresh_from_db()
    assert mine.status == EmailCampaignStatus.DRAFT


def test_schedule_for_later(manager_client, mine):
    later = timezone.localtime() + timedelta(days=2)
    manager_client.post(
        reverse("leads:email_campaign_schedule", args=[mine.pk]),
        {"at": later.strftime("%Y-%m-%dT%H:%M")},
    )
    mine.refresh_from_db()
    assert mine.status == EmailCampaignStatus.SCHEDULED
    assert mine.scheduled_at == later.replace(second=0, microsecond=0)


def _results_world(campaign):
    """Variant A: 200 delivered, 30 clicked; B: 200 delivered, 15 clicked; plus skipped ones."""
    a, b = campaign.variants.order_by("label")
    now = timezone.now()
    rows = []
    for variant, clicks in ((a, 30), (b, 15)):
        for i in range(200):
            contact = ContactFactory.build(account=None, owner=None)
            rows.append((variant, i < clicks, contact))
    contacts = ContactFactory._meta.model.objects.bulk_create([c for _, _, c in rows])
    CampaignRecipient.objects.bulk_create(
        CampaignRecipient(
            campaign=campaign,
            contact=contact,
            email=contact.email,
            variant=variant,
            status=RecipientStatus.SENT,
            queued_at=now,
            opened_at=now if clicked else None,
            clicked_at=now if clicked else None,
        )
        for (variant, clicked, _), contact in zip(rows, contacts, strict=True)
    )
    for reason in (SkipReason.NO_CONSENT, SkipReason.NO_CONSENT, SkipReason.SUPPRESSED):
        CampaignRecipientFactory(
            campaign=campaign, status=RecipientStatus.SKIPPED, skip_reason=reason
        )
    SuppressionFactory(email=contacts[0].email, reason="bounce")


def test_detail_shows_progress_results_and_a_significance_matching_the_hand_computation(
    manager_client, mine
):
    _results_world(mine)
    response = manager_client.get(mine.get_absolute_url())
    body = response.content.decode()

    # pooled p = 45/400; z = (30/200 - 15/200) / sqrt(p (1 - p) (1/200 + 1/200))
    pooled = 45 / 400
    z = (30 / 200 - 15 / 200) / math.sqrt(pooled * (1 - pooled) * (2 / 200))
    p = math.erfc(abs(z) / math.sqrt(2))
    assert round(z, 3) == 2.374
    assert f'data-p-value="{p:.4f}"' in body
    assert f"p = {p:.3f}" in body
    assert "Variant A is ahead" in body
    assert "unlikely to be chance" in body
    assert 'data-count="recipients">403<' in body
    assert 'data-count="sent">400<' in body
    assert 'data-count="skipped">3<' in body
    assert 'data-count="bounced">1<' in body
    assert "no marketing consent 2" in body
    assert "15.0%" in body and "7.5%" in body


def test_detail_query_count_does_not_grow_with_recipients(
    manager_client, mine, django_assert_max_num_queries
):
    CampaignRecipientFactory.create_batch(3, campaign=mine, status=RecipientStatus.PENDING)
    with django_assert_max_num_queries(20) as few:
        manager_client.get(mine.get_absolute_url())
    CampaignRecipientFactory.create_batch(60, campaign=mine, status=RecipientStatus.PENDING)
    with django_assert_max_num_queries(len(few)):
        response = manager_client.get(mine.get_absolute_url())
    assert "Next ›" in response.content.decode()
    # The recipient table alone, for HTMX paging and filtering
    partial = manager_client.get(
        mine.get_absolute_url(), {"page": 2, "status": "pending"}, HTTP_HX_REQUEST="true"
    )
    assert "<html" not in partial.content.decode()
    assert "51–63" in partial.content.decode()


def test_list_is_paged_with_a_fixed_query_count(
    manager_client, manager, rep, django_assert_max_num_queries
):
    EmailCampaignFactory.create_batch(2, created_by=rep)
    with django_assert_max_num_queries(20) as few:
        manager_client.get(LIST)
    EmailCampaignFactory.create_batch(55, created_by=manager)
    with django_assert_max_num_queries(len(few)):
        response = manager_client.get(LIST)
    assert response.status_code == 200
    assert "Next ›" in response.content.decode()


def test_the_marketing_campaign_page_links_its_email_campaigns_and_shows_roi(manager_client, mine):
    url = mine.campaign.get_absolute_url()
    body = manager_client.get(url).content.decode()
    assert mine.get_absolute_url() in body
    assert 'id="campaign-roi"' in body
    assert f"{CREATE}?campaign={mine.campaign.pk}" in body
    # the new-campaign link preselects it
    assert (
        f'value="{mine.campaign.pk}" selected'
        in manager_client.get(f"{CREATE}?campaign={mine.campaign.pk}").content.decode()
    )


def test_reps_and_agents_see_no_campaign_revenue_or_email_campaigns(
    rep_client, agent, client, mine
):
    body = rep_client.get(mine.campaign.get_absolute_url()).content.decode()
    assert 'id="campaign-roi"' not in body
    assert mine.get_absolute_url() not in body


def _urls(campaign):
    pk = campaign.pk
    return {
        "get": [
            campaign.get_absolute_url(),
            reverse("leads:email_campaign_edit", args=[pk]),
        ],
        "post": [
            (reverse("leads:email_campaign_edit", args=[pk]), {"name": "x"}),
            (reverse("leads:email_campaign_schedule", args=[pk]), {"at": ""}),
            (reverse("leads:email_campaign_unschedule", args=[pk]), {}),
            (reverse("leads:email_campaign_cancel", args=[pk]), {}),
        ],
    }


def test_a_rep_cannot_reach_email_campaigns_by_guessing_urls(rep_client, mine):
    assert_hidden(rep_client, **_urls(mine))
    assert rep_client.get(LIST).status_code == 404
    assert rep_client.get(CREATE).status_code == 404
    assert rep_client.get(reverse("leads:email_campaign_audience")).status_code == 404
    mine.refresh_from_db()
    assert mine.status == EmailCampaignStatus.DRAFT


def test_another_teams_manager_cannot_read_or_change_it(client, mine):
    other = UserFactory(roles=[Role.MANAGER])
    TeamFactory(name="Elsewhere", managers=[other], members=[UserFactory(roles=[Role.SALES_REP])])
    client.force_login(other)
    assert_hidden(client, **_urls(mine))
    assert mine.get_absolute_url() not in client.get(LIST).content.decode()
    mine.refresh_from_db()
    assert mine.status == EmailCampaignStatus.DRAFT


def test_a_manager_sees_the_campaigns_of_their_team(manager_client, rep):
    theirs = EmailCampaignFactory(created_by=rep)
    assert manager_client.get(theirs.get_absolute_url()).status_code == 200
