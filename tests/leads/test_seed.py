import datetime as dt
import io

import pytest

from crm.seeding import SeedContext, demo_users_create
from leads.choices import EnrollmentState, EnrollmentStopReason, LeadSource, LeadStatus
from leads.models import Campaign, Enrollment, Lead, Sequence
from leads.seed import seed
from leads.services.sequences import sequences_run_due

pytestmark = pytest.mark.django_db


def test_seed_covers_every_status_source_and_enrolment_state():
    users = demo_users_create(scale=1, password="demo")
    ctx = SeedContext(
        scale=1, users=users, now=dt.datetime(2025, 3, 14, tzinfo=dt.UTC), stdout=io.StringIO()
    ).for_step("leads")
    seed(ctx)
    assert set(Lead.objects.values_list("status", flat=True)) == set(LeadStatus.values)
    assert set(Lead.objects.values_list("source", flat=True)) == set(LeadSource.values)
    assert Campaign.objects.filter(cost__gt=0).count() == 6
    assert Sequence.objects.count() == 2
    states = set(Enrollment.objects.values_list("state", flat=True))
    assert states == set(EnrollmentState.values)
    reasons = set(Enrollment.objects.values_list("stop_reason", flat=True))
    assert {EnrollmentStopReason.REPLIED, EnrollmentStopReason.UNSUBSCRIBED} <= reasons
    lead = Lead.objects.exclude(score_breakdown=[]).first()
    assert lead.score == max(0, min(100, sum(item["points"] for item in lead.score_breakdown)))
    assert Lead.objects.filter(email__contains="@").count() == Lead.objects.count()
    sequences_run_due()  # the demo's due steps run without errors
