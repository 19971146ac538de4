import factory

from crm.choices import Role
from leads.models import CampaignRecipient, EmailCampaign, EmailVariant, Suppression
from tests.factories.crm import ContactFactory, UserFactory
from tests.factories.leads import CampaignFactory
from tests.factories.segments import SegmentFactory


class EmailCampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailCampaign

    name = factory.Sequence(lambda n: f"Newsletter {n}")
    campaign = factory.SubFactory(CampaignFactory)
    created_by = factory.SubFactory(UserFactory, roles=[Role.MANAGER])
    segment = factory.SubFactory(SegmentFactory, owner=factory.SelfAttribute("..created_by"))
    rate_per_minute = 1000


class EmailVariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailVariant

    campaign = factory.SubFactory(EmailCampaignFactory)
    label = "A"
    subject = "Hello {{ first_name }}"
    body = "Dear {{ full_name }} of {{ company }}, see https://example.com/offer?a=1&b=2"


class CampaignRecipientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignRecipient

    campaign = factory.SubFactory(EmailCampaignFactory)
    contact = factory.SubFactory(ContactFactory)
    email = factory.SelfAttribute("contact.email")


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Suppression

    email = factory.Sequence(lambda n: f"suppressed{n}@example.com")
    reason = "bounce"
