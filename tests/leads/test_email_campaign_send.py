"""The campaign send engine: chunked, set-based runs that queue each consenting recipient's
email exactly once, whatever crashes or reruns happen in between."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from crm.models import OutboundEmail
from leads.campaigns.services import sending as service
from leads.choices import EmailCampaignStatus, RecipientStatus
from leads.models import CampaignRecipient, EmailCampaign
from tests.factories.crm import ContactFactory, UserFactory
from tests.factories.email_campaigns import EmailCampaignFactory, EmailVariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.pgbouncer]


@pytest.fixture
def campaign(monkeypatch):
    monkeypatch.setattr(service, "SEND_CHUNK", 2)  # several chunks from a handful of rows
    campaign = EmailCampaignFactory()
    EmailVariantFactory(campaign=campaign, label="A", subject="A for {{ first_name }}")
    EmailVariantFactory(campaign=campaign, label="B", subject="B for {{ first_name }}")
    service.email_campaign_schedule(campaign=campaign, at=timezone.now() - timedelta(minutes=1))
    return campaign


def vps(count):
    return [ContactFactory(title="VP Sales", marketing_consent=True) for _ in range(count)]


def outbox_of(campaign):
    return OutboundEmail.objects.filter(idempotency_key__startswith=f"camp:{campaign.pk}:")


def test_one_run_queues_every_chunk_and_links_each_recipient_to_its_email(campaign):
    contacts = vps(5)

    assert service.email_campaign_send_batch(campaign_id=campaign.pk) == 5

    assert outbox_of(campaign).count() == 5
    for recipient in CampaignRecipient.objects.select_related("outbound_email", "contact"):
        email = recipient.outbound_email
        assert recipient.status == RecipientStatus.QUEUED and recipient.queued_at
        assert email.idempotency_key == f"camp:{campaign.pk}:{recipient.contact_id}"
        assert email.to_email == recipient.email and email.related == recipient.contact
        assert email.subject == f"{recipient.variant.label} for {recipient.contact.first_name}"
    assert {r.contact_id for r in CampaignRecipient.objects.all()} == {c.pk for c in contacts}


def test_the_rate_holds_across_chunks(campaign):
    vps(5)
    campaign.rate_per_minute = 3
    campaign.save(update_fields=["rate_per_minute"])
    assert service.email_campaign_send_batch(campaign_id=campaign.pk) == 3
    assert outbox_of(campaign).count() == 3
    assert CampaignRecipient.objects.filter(status=RecipientStatus.PENDING).count() == 2


def test_a_crash_mid_run_keeps_finished_chunks_and_the_rerun_sends_the_rest_once(
    campaign, monkeypatch
):
    vps(5)
    real = service.CampaignComposer.message
    calls = []

    def crash_on_the_third(self, row):
        calls.append(row)
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        return real(self, row)

    monkeypatch.setattr(service.CampaignComposer, "message", crash_on_the_third)
    with pytest.raises(RuntimeError):
        service.email_campaign_send_batch(campaign_id=campaign.pk)

    assert outbox_of(campaign).count() == 2  # the first chunk committed, the second did not
    statuses = list(CampaignRecipient.objects.order_by("id").values_list("status", flat=True))
    assert statuses == ["queued"] * 2 + ["pending"] * 3

    monkeypatch.setattr(service.CampaignComposer, "message", real)
    assert service.email_campaign_send_batch(campaign_id=campaign.pk) == 3
    assert outbox_of(campaign).count() == 5
    assert sorted(outbox_of(campaign).values_list("to_email", flat=True)) == sorted(
        CampaignRecipient.objects.values_list("email", flat=True)
    )


def test_rerunning_a_batch_whose_status_was_lost_queues_nothing_twice(campaign):
    vps(3)
    service.email_campaign_send_batch(campaign_id=campaign.pk)
    first = dict(CampaignRecipient.objects.values_list("pk", "outbound_email_id"))
    # As if the run's UPDATE to queued were lost while its emails were kept.
    CampaignRecipient.objects.update(status=RecipientStatus.PENDING, outbound_email=None)
    EmailCampaign.objects.filter(pk=campaign.pk).update(status=EmailCampaignStatus.SENDING)

    assert service.email_campaign_send_batch(campaign_id=campaign.pk) == 3

    assert outbox_of(campaign).count() == 3
    assert dict(CampaignRecipient.objects.values_list("pk", "outbound_email_id")) == first


def test_merge_values_come_from_the_contact_its_account_and_owner(campaign):
    owner = UserFactory(first_name="Olga", last_name="Owner")
    contact = ContactFactory(
        title="VP <Sales>",
        first_name="Ada",
        marketing_consent=True,
        owner=owner,
        account__name="Acme & Co",
    )
    campaign.variants.update(
        body="{% if company %}{{ company }}{% endif %} / {{ title }} / {{ owner_name }}"
    )
    service.email_campaign_send_batch(campaign_id=campaign.pk)
    email = OutboundEmail.objects.get(object_id=contact.pk)
    assert email.body_text.startswith("Acme & Co / VP <Sales> / Olga Owner")
    assert "Acme &amp; Co / VP &lt;Sales&gt; / Olga Owner" in email.body_html
    # The token is signed with a timestamp: compare the link up to it (the clock may tick
    # between sending and this line).
    token = service.contact_unsubscribe_token(contact.pk)
    unsubscribe = reverse("leads:contact_unsubscribe", args=[token])
    assert unsubscribe.split(":")[0] + ":" in email.body_text


def test_a_variant_that_does_not_compile_sends_nothing(campaign):
    vps(2)
    campaign.variants.filter(label="B").update(body="{% include 'base.html' %}")
    assert service.email_campaign_send_batch(campaign_id=campaign.pk) == 0
    assert not outbox_of(campaign).exists()
    assert not CampaignRecipient.objects.filter(status=RecipientStatus.QUEUED).exists()


def test_a_second_run_while_one_is_queuing_queues_nothing(campaign):
    vps(2)
    key = service.run_lock_key(campaign.pk)
    assert cache.add(key, "another run", timeout=service.RUN_LOCK_SECONDS)  # held elsewhere
    try:
        assert service.email_campaign_send_batch(campaign_id=campaign.pk) == 0
        assert not outbox_of(campaign).exists()
    finally:
        cache.delete(key)
    assert service.email_campaign_send_batch(campaign_id=campaign.pk) == 2
    assert cache.get(key) is None  # released when the run ended


def test_a_run_leaves_a_claim_it_did_not_make_alone(campaign):
    vps(1)
    key = service.run_lock_key(campaign.pk)
    with service._one_run_at_a_time(campaign) as alone:
        assert alone
        cache.set(key, "a later run", timeout=service.RUN_LOCK_SECONDS)  # ours lapsed meanwhile
    assert cache.get(key) == "a later run"
    cache.delete(key)
