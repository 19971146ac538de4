import factory

from crm.choices import Role, TemplateSharing
from crm.models import EmailTemplate

from .crm import UserFactory


class EmailTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailTemplate

    name = factory.Sequence(lambda n: f"Follow-up {n}")
    subject = "About {{ deal.name }}"
    body = 'Hello {{ contact.first_name|default:"there" }},\n\nThanks for your time.'
    owner = factory.SubFactory(UserFactory, roles=[Role.SALES_REP])
    sharing = TemplateSharing.PRIVATE
