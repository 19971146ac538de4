import pytest

from crm.segments.selectors import segment_count
from leads.choices import LeadStatus
from tests.factories.leads import LeadFactory
from tests.factories.segments import condition, group

pytestmark = pytest.mark.django_db


def test_lead_segment_by_status_and_title_is_scoped_to_the_reps_leads(rep, rep2):
    LeadFactory(owner=rep, status=LeadStatus.WORKING, title="VP Sales")
    LeadFactory(owner=rep, status=LeadStatus.NEW, title="VP Marketing")
    LeadFactory(owner=rep, status=LeadStatus.WORKING, title="Engineer")
    LeadFactory(owner=rep2, status=LeadStatus.WORKING, title="VP Finance")
    definition = group(
        "and",
        condition("status", "in", [LeadStatus.WORKING]),
        condition("title", "contains", "VP"),
    )
    assert segment_count(definition, user=rep, target="lead") == 1
    either = group(
        "or",
        condition("status", "in", [LeadStatus.NEW]),
        condition("title", "contains", "Engineer"),
    )
    assert segment_count(either, user=rep, target="lead") == 2
