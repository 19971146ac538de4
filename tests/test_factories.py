"""Each factory added for a model that tests used to create by hand makes a valid row."""

import pytest

from tests.factories.analytics import CLVFitFactory, CustomerValueFactory
from tests.factories.crm import (
    ConsentEventFactory,
    SavedViewFactory,
    WebhookDeliveryFactory,
    WebhookEndpointFactory,
)
from tests.factories.leads import ImportJobFactory, SegmentEnrolmentFactory
from tests.factories.retention import (
    ChurnEventFactory,
    HealthScoreFactory,
    HealthScoreHistoryFactory,
    MrrMovementFactory,
    NpsRunFactory,
    NpsSurveyFactory,
    RecommendationFactory,
    UsageDailyFactory,
)
from tests.factories.sales import (
    OnboardingPlanFactory,
    OrderFactory,
    OrderLineFactory,
    StageChangeFactory,
)
from tests.factories.support import (
    AttachmentFactory,
    BusinessHoursFactory,
    CsatSurveyFactory,
    HolidayFactory,
    QueueAgentFactory,
)

pytestmark = pytest.mark.django_db

FACTORIES = [
    ConsentEventFactory,
    SavedViewFactory,
    WebhookEndpointFactory,
    WebhookDeliveryFactory,
    CLVFitFactory,
    CustomerValueFactory,
    ImportJobFactory,
    SegmentEnrolmentFactory,
    ChurnEventFactory,
    HealthScoreFactory,
    HealthScoreHistoryFactory,
    MrrMovementFactory,
    NpsRunFactory,
    NpsSurveyFactory,
    RecommendationFactory,
    UsageDailyFactory,
    OnboardingPlanFactory,
    OrderFactory,
    OrderLineFactory,
    StageChangeFactory,
    AttachmentFactory,
    BusinessHoursFactory,
    CsatSurveyFactory,
    HolidayFactory,
    QueueAgentFactory,
]


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_factory_makes_a_valid_row(factory, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # import files and attachments
    first, second = factory(), factory()  # sequences keep unique fields apart
    for obj in (first, second):
        obj.full_clean()
    model = factory._meta.model
    assert model.objects.filter(pk__in=[first.pk, second.pk]).count() == 2
