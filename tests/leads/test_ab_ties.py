"""An A/B test names no winner, and claims no significance, on a tie or without data: a
sequence step keeps splitting its leads, an email campaign's rest get the first variant as the
default, and the pages say no variant is ahead."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity
from leads.campaigns.selectors import ab_significance, best_variant_id, compare_variants
from leads.campaigns.services import sending as service
from leads.choices import RecipientStatus
from leads.models import CampaignRecipient
from leads.selectors import sequence_ab_tests
from leads.services import sequence_ab
from tests.factories.crm import ContactFactory
from tests.factories.email_campaigns import EmailCampaignFactory, EmailVariantFactory
from tests.leads.test_email_campaigns import scheduled
from tests.leads.test_sequence_ab import _results, step  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def _row(label, delivered, clicked, opened=None):
    opened = clicked if opened is None else opened
    rate = (lambda n: n / delivered) if delivered else (lambda n: 0.0)
    return {
        "variant_id": ord(label),
        "label": label,
        "delivered": delivered,
        "clicked": clicked,
        "opened": opened,
        "clicked_rate": rate(clicked),
        "opened_rate": rate(opened),
    }


@pytest.mark.parametrize(
    "rows",
    [
        [_row("A", 20, 0), _row("B", 20, 0)],  # 0-0
        [_row("A", 20, 4), _row("B", 20, 4)],  # level on clicks and opens
        [_row("A", 0, 0), _row("B", 0, 0)],  # nothing delivered
        [],
    ],
    ids=["zero-zero", "level", "no-data", "no-variants"],
)
def test_no_winner_and_no_significance_on_a_tie_or_without_data(rows):
    assert best_variant_id(rows) is None
    assert ab_significance(rows) is None


def test_opens_still_break_a_tie_on_clicks():
    rows = [_row("A", 20, 0, opened=2), _row("B", 20, 0, opened=7)]
    assert best_variant_id(rows) == ord("B")
    assert best_variant_id([_row("A", 20, 1), _row("B", 20, 3)]) == ord("B")


def test_the_verdict_on_a_tie_says_no_variant_is_ahead():
    rows = [_row("A", 20, 0), _row("B", 20, 0)]
    verdict = compare_variants(rows)
    assert verdict.text.startswith("No variant is ahead") and not verdict.significant
    assert [r["p_value"] for r in rows] == [None, None]


def test_a_tied_sequence_step_picks_no_winner_and_shows_no_claim(rep_client, step):  # noqa: F811
    step.winner_after_hours = 1
    step.save(update_fields=["winner_after_hours"])
    _results(step, a_clicks=0, b_clicks=0)

    assert sequence_ab.sequence_step_pick_winner(step_id=step.pk) is False

    step.refresh_from_db()
    assert step.winner_variant is None and step.winner_picked_at is None
    (test,) = sequence_ab_tests(sequence=step.sequence)
    assert test["significance"] is None
    page = rep_client.get(reverse("leads:sequence_detail", args=[step.sequence.pk]))
    assert "on clicks per delivered email: z =" not in page.content.decode()


def test_a_tied_campaign_names_no_winner_and_the_rest_get_the_first_variant(admin_client_):
    campaign = EmailCampaignFactory(test_fraction="0.5", winner_after_hours=2)
    a = EmailVariantFactory(campaign=campaign, label="A")
    EmailVariantFactory(campaign=campaign, label="B")
    for _ in range(30):
        ContactFactory(title="VP Sales", marketing_consent=True)
    start = timezone.now() - timedelta(hours=3)
    scheduled(campaign, at=start)
    service.email_campaign_send_batch(campaign_id=campaign.pk, now=start)
    waiting = CampaignRecipient.objects.filter(variant__isnull=True).count()
    assert waiting > 0
    CampaignRecipient.objects.filter(variant__isnull=False).update(status=RecipientStatus.SENT)

    assert service.email_campaigns_pick_winners() == 1
    assert service.email_campaigns_pick_winners() == 0

    campaign.refresh_from_db()
    assert campaign.winner_variant is None and campaign.winner_picked_at is not None
    assert CampaignRecipient.objects.filter(variant__isnull=True).count() == 0
    assert CampaignRecipient.objects.filter(variant=a).count() >= waiting
    assert Activity.objects.filter(summary__startswith="No variant won").count() == 1
    page = admin_client_.get(campaign.get_absolute_url()).content.decode()
    assert "No variant won" in page
    assert ">winner<" not in page
