import json
import math
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from scipy.stats import norm

from crm.models import Activity, OutboundEmail
from crm.personal_data import email_hash
from crm.services.outbox import outbox_send_queued
from leads.campaigns.selectors import ab_significance, two_proportion_z, variant_results
from leads.campaigns.services import sending as service
from leads.choices import EmailCampaignStatus, RecipientStatus, SkipReason
from leads.models import CampaignRecipient, EmailCampaign, Suppression
from tests.factories.crm import ContactFactory
from tests.factories.email_campaigns import (
    EmailCampaignFactory,
    EmailVariantFactory,
    SuppressionFactory,
)
from tests.factories.leads import LeadFactory

pytestmark = pytest.mark.django_db


def vp(**kwargs):
    kwargs.setdefault("marketing_consent", True)
    return ContactFactory(title="VP Sales", **kwargs)


def scheduled(campaign, at=None):
    service.email_campaign_schedule(campaign=campaign, at=at or timezone.now() - timedelta(1))
    return campaign


@pytest.fixture
def campaign():
    c = EmailCampaignFactory()
    EmailVariantFactory(campaign=c, label="A", subject="A for {{ first_name }}")
    EmailVariantFactory(campaign=c, label="B", subject="B for {{ first_name }}")
    return c


def test_only_consenting_reachable_contacts_get_exactly_one_email(campaign):
    ok = [vp() for _ in range(3)]
    no_consent = vp(marketing_consent=False)
    suppressed = vp()
    SuppressionFactory(email=suppressed.email, reason="bounce")
    unsubscribed_lead = vp()
    LeadFactory(email=unsubscribed_lead.email, unsubscribed_at=timezone.now())
    duplicate = vp(email=ok[0].email)
    ContactFactory(title="Engineer", marketing_consent=True)  # outside the segment
    scheduled(campaign)

    assert service.email_campaigns_send_due() == {campaign.pk: 3}
    assert service.email_campaigns_send_due() == {}  # finished: nothing more

    emails = OutboundEmail.objects.filter(idempotency_key__startswith=f"camp:{campaign.pk}:")
    assert sorted(emails.values_list("to_email", flat=True)) == sorted(c.email for c in ok)
    skipped = dict(
        CampaignRecipient.objects.filter(status=RecipientStatus.SKIPPED).values_list(
            "contact_id", "skip_reason"
        )
    )
    assert skipped == {
        no_consent.pk: SkipReason.NO_CONSENT,
        suppressed.pk: SkipReason.SUPPRESSED,
        unsubscribed_lead.pk: SkipReason.UNSUBSCRIBED,
        duplicate.pk: SkipReason.DUPLICATE,
    }
    campaign.refresh_from_db()
    assert campaign.status == EmailCampaignStatus.SENT


def test_send_twice_in_a_row_queues_nothing_twice(campaign):
    for _ in range(4):
        vp()
    campaign.rate_per_minute = 3
    campaign.save(update_fields=["rate_per_minute"])
    scheduled(campaign)

    start = timezone.now()
    runs = [
        service.email_campaign_send_batch(campaign_id=campaign.pk, now=start + delta)
        for delta in (
            timedelta(0),
            timedelta(seconds=20),  # a second run in the same minute
            timedelta(seconds=61),  # the minute has passed
            timedelta(seconds=75),
        )
    ]

    assert runs == [3, 0, 1, 0]  # the rate holds in every minute, not just per run
    assert OutboundEmail.objects.count() == 4
    assert set(OutboundEmail.objects.values_list("idempotency_key", flat=True)) == {
        f"camp:{campaign.pk}:{r.contact_id}" for r in CampaignRecipient.objects.all()
    }


def test_not_due_and_draft_campaigns_send_nothing(campaign):
    vp()
    assert service.email_campaigns_send_due() == {}
    scheduled(campaign, at=timezone.now() + timedelta(hours=1))
    assert service.email_campaigns_send_due() == {}
    assert not OutboundEmail.objects.exists()


def test_an_address_suppressed_after_preparing_is_skipped(campaign):
    contacts = [vp() for _ in range(2)]
    scheduled(campaign)
    service.email_campaign_prepare(campaign=campaign)
    SuppressionFactory(email=contacts[0].email, reason="complaint")

    assert service.email_campaign_send_batch(campaign_id=campaign.pk) == 1
    assert OutboundEmail.objects.get().to_email == contacts[1].email


def test_split_is_reproducible_and_roughly_even(campaign):
    contacts = [vp() for _ in range(200)]
    service.email_campaign_prepare(campaign=campaign)
    first = dict(CampaignRecipient.objects.values_list("contact_id", "variant__label"))
    CampaignRecipient.objects.all().delete()
    EmailCampaign.objects.filter(pk=campaign.pk).update(prepared_at=None)

    service.email_campaign_prepare(campaign=campaign)

    again = dict(CampaignRecipient.objects.values_list("contact_id", "variant__label"))
    assert first == again
    assert len(again) == len(contacts)
    assert 60 < list(again.values()).count("A") < 140
    assert all(
        service.bucket_for(campaign.pk, c.pk) == service.bucket_for(campaign.pk, c.pk)
        for c in contacts
    )


def test_test_fraction_leaves_the_rest_for_the_winner(campaign):
    campaign.test_fraction = "0.2"
    campaign.winner_after_hours = 4
    campaign.save(update_fields=["test_fraction", "winner_after_hours"])
    for _ in range(100):
        vp()
    service.email_campaign_prepare(campaign=campaign)
    waiting = CampaignRecipient.objects.filter(variant__isnull=True)
    assert all(r.bucket >= 200 for r in waiting)
    assert all(r.bucket < 200 for r in CampaignRecipient.objects.filter(variant__isnull=False))


def test_z_test_matches_a_hand_computation():
    # 30/200 against 15/210: pooled p = 45/410.
    p = 45 / 410
    se = math.sqrt(p * (1 - p) * (1 / 200 + 1 / 210))
    z = (30 / 200 - 15 / 210) / se
    expected_p = 2 * (1 - norm.cdf(z))
    got_z, got_p = two_proportion_z(30, 200, 15, 210)
    assert got_z == pytest.approx(z) == pytest.approx(2.5441, abs=1e-3)
    assert got_p == pytest.approx(expected_p) == pytest.approx(0.0110, abs=1e-3)
    assert two_proportion_z(0, 0, 1, 10) == (0.0, 1.0)


def test_variant_results_and_significance(campaign):
    a, b = campaign.variants.order_by("label")
    now = timezone.now()
    for index in range(40):
        variant = a if index < 20 else b
        clicked = now if (index < 12 or 20 <= index < 23) else None
        CampaignRecipient.objects.create(
            campaign=campaign,
            contact=vp(),
            email=f"r{index}@example.com",
            variant=variant,
            status=RecipientStatus.SENT,
            opened_at=clicked,
            clicked_at=clicked,
        )
    results = variant_results(campaign)
    assert [(r["label"], r["delivered"], r["clicked"]) for r in results] == [
        ("A", 20, 12),
        ("B", 20, 3),
    ]
    significance = ab_significance(results)
    z, p = two_proportion_z(12, 20, 3, 20)
    assert (significance.best, significance.p_value) == ("A", pytest.approx(p))
    assert significance.significant


def test_winner_is_picked_once_and_sent_to_the_rest(campaign):
    campaign.test_fraction = "0.5"
    campaign.winner_after_hours = 2
    campaign.save(update_fields=["test_fraction", "winner_after_hours"])
    for _ in range(30):
        vp()
    start = timezone.now() - timedelta(hours=3)
    scheduled(campaign, at=start)
    tested = service.email_campaign_send_batch(campaign_id=campaign.pk, now=start)
    waiting = CampaignRecipient.objects.filter(variant__isnull=True).count()
    assert tested + waiting == 30 and waiting > 0
    b = campaign.variants.get(label="B")
    CampaignRecipient.objects.filter(variant=b).update(
        status=RecipientStatus.SENT, clicked_at=timezone.now()
    )
    CampaignRecipient.objects.filter(variant__label="A").update(status=RecipientStatus.SENT)

    assert service.email_campaigns_pick_winners() == 1
    assert service.email_campaigns_pick_winners() == 0
    campaign.refresh_from_db()
    assert campaign.winner_variant == b
    assert service.email_campaign_send_batch(campaign_id=campaign.pk) == waiting
    assert service.email_campaign_send_batch(campaign_id=campaign.pk) == 0
    assert OutboundEmail.objects.count() == 30
    assert CampaignRecipient.objects.filter(variant=b).count() >= waiting


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_delivered_is_marked_after_the_outbox_sends(campaign):
    vp()
    scheduled(campaign)
    service.email_campaigns_send_due()
    outbox_send_queued()
    service.email_campaigns_send_due()
    assert CampaignRecipient.objects.get().status == RecipientStatus.SENT
    assert len(mail.outbox) == 1


def _sent_message(campaign):
    contact = vp(first_name="Ada")
    scheduled(campaign)
    service.email_campaigns_send_due()
    return contact, CampaignRecipient.objects.get(contact=contact), OutboundEmail.objects.get()


def test_email_carries_merge_fields_unsubscribe_pixel_and_tracked_links(client, campaign):
    contact, recipient, email = _sent_message(campaign)
    assert email.subject.endswith("for Ada")
    assert "/e/u/" in email.body_text and "/e/c/" in email.body_text
    assert "https://example.com/offer" not in email.body_text  # rewritten to the redirect
    assert "/e/o/" in email.body_html


def test_no_pixel_when_opens_are_not_tracked(campaign):
    campaign.track_opens = False
    campaign.save(update_fields=["track_opens"])
    _, _, email = _sent_message(campaign)
    assert "/e/o/" not in email.body_html


def test_open_and_click_are_recorded_once_on_the_timeline(client, campaign):
    contact, recipient, _ = _sent_message(campaign)
    open_url = reverse("leads:email_open", args=[service.open_token(recipient.pk)])
    target = "https://example.com/offer?a=1&b=2"
    click_url = reverse("leads:email_click", args=[service.click_token(recipient.pk, target)])

    for _ in range(2):
        assert client.get(open_url)["Content-Type"] == "image/gif"
        response = client.get(click_url)
        assert response.status_code == 302 and response["Location"] == target

    recipient.refresh_from_db()
    assert recipient.opened_at and recipient.clicked_at
    summaries = list(
        Activity.objects.filter(object_id=contact.pk).values_list("summary", flat=True)
    )
    assert sum("Opened" in s for s in summaries) == 1
    assert sum("Clicked" in s for s in summaries) == 1


def test_tampered_links_are_rejected(client, campaign):
    _, recipient, _ = _sent_message(campaign)
    token = service.click_token(recipient.pk, "https://example.com/")
    forged = signing.dumps({"r": recipient.pk, "u": "https://evil.example/"}, salt="other")
    assert client.get(reverse("leads:email_click", args=[token[:-2] + "xx"])).status_code == 400
    assert client.get(reverse("leads:email_click", args=[forged])).status_code == 400
    open_as_click = service.open_token(recipient.pk)
    assert client.get(reverse("leads:email_click", args=[open_as_click])).status_code == 400
    assert client.get(reverse("leads:email_open", args=["nonsense"])).status_code == 404
    recipient.refresh_from_db()
    assert recipient.clicked_at is None and recipient.opened_at is None


def test_unsubscribe_link_suppresses_and_is_honoured(client, campaign):
    contact = vp()
    url = reverse("leads:contact_unsubscribe", args=[service.contact_unsubscribe_token(contact.pk)])
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200
    assert Suppression.objects.get(email=contact.email).reason == "unsubscribe"
    contact.refresh_from_db()
    assert not contact.marketing_consent
    assert client.get(reverse("leads:contact_unsubscribe", args=["bad"])).status_code == 400
    scheduled(campaign)
    service.email_campaigns_send_due()
    assert not OutboundEmail.objects.exists()


BOUNCE = "/e/bounce/"


@override_settings(EMAIL_WEBHOOK_TOKEN="s3cret")
def test_bounce_webhook_needs_the_token(client):
    body = json.dumps([{"email": "x@example.com", "type": "bounce"}])
    assert client.post(BOUNCE, body, content_type="application/json").status_code == 403
    wrong = client.post(
        BOUNCE, body, content_type="application/json", headers={"X-Webhook-Token": "nope"}
    )
    assert wrong.status_code == 403
    assert not Suppression.objects.exists()


def test_bounce_webhook_is_closed_without_a_configured_token(client):
    body = json.dumps([{"email": "x@example.com", "type": "bounce"}])
    response = client.post(
        BOUNCE, body, content_type="application/json", headers={"X-Webhook-Token": ""}
    )
    assert response.status_code == 403


@override_settings(EMAIL_WEBHOOK_TOKEN="s3cret")
@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"email": "x@example.com"}),
        json.dumps([{"email": "nope", "type": "bounce"}]),
        json.dumps([{"email": "x@example.com", "type": "opened"}]),
        json.dumps([1]),
    ],
)
def test_bounce_webhook_bad_input_is_400_with_reasons(client, body):
    response = client.post(
        BOUNCE, body, content_type="application/json", headers={"X-Webhook-Token": "s3cret"}
    )
    assert response.status_code == 400
    assert response.json().get("errors")
    assert not Suppression.objects.exists()


@override_settings(EMAIL_WEBHOOK_TOKEN="s3cret")
def test_bounced_addresses_are_suppressed_and_not_mailed(client, campaign):
    bounced, complained, fine = vp(), vp(), vp()
    body = json.dumps(
        [
            {"email": bounced.email.upper(), "type": "bounce"},
            {"email": complained.email, "type": "complaint"},
        ]
    )
    response = client.post(
        BOUNCE, body, content_type="application/json", headers={"X-Webhook-Token": "s3cret"}
    )
    assert response.json() == {"received": 2, "suppressed": 2}
    again = client.post(
        BOUNCE, body, content_type="application/json", headers={"X-Webhook-Token": "s3cret"}
    )
    assert again.json()["suppressed"] == 0
    scheduled(campaign)
    service.email_campaigns_send_due()
    assert list(OutboundEmail.objects.values_list("to_email", flat=True)) == [fine.email]


def test_an_erased_persons_address_is_suppressed_by_its_hash(campaign):
    again, fine = vp(email="came.back@example.com"), vp()
    Suppression.objects.create(email=None, email_hash=email_hash(again.email), reason="erased")
    scheduled(campaign)
    service.email_campaigns_send_due()
    assert list(OutboundEmail.objects.values_list("to_email", flat=True)) == [fine.email]
    skipped = CampaignRecipient.objects.get(contact=again)
    assert skipped.skip_reason == SkipReason.SUPPRESSED


def test_status_transitions_are_checked(campaign):
    service.email_campaign_cancel(campaign=campaign)
    with pytest.raises(service.TransitionError):
        service.email_campaign_schedule(campaign=campaign)
