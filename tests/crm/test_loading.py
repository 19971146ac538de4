"""Rows made into instances without ``Model.__init__`` (``crm.loading``): the same instances."""

import pytest
from django.db.models import signals

from crm import loading
from crm.models import Account, Contact, TabularImportJob
from tests.factories.crm import AccountFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_partly_read_row_is_the_instance_django_makes():
    owner = UserFactory(first_name="Ada", last_name="Owner")
    account = AccountFactory(name="Initech", owner=owner)
    contact = ContactFactory(first_name="Peter", last_name="Gibbons", account=account, owner=owner)

    read = (
        Contact.objects.select_related("account", "owner")
        .only("first_name", "account__name", "owner__first_name")
        .get(pk=contact.pk)
    )

    assert type(read) is Contact and read._state.adding is False and read._state.db == "default"
    assert read.first_name == "Peter" and read.account.name == "Initech"
    assert read.owner.first_name == "Ada"
    # The columns not read stay deferred, loaded on first use.
    assert "last_name" in read.get_deferred_fields()
    assert read.last_name == "Gibbons"
    # A foreign key's key and its instance agree, and setting the key forgets the instance.
    assert read.account_id == account.pk
    read.account_id = None
    assert read.account is None
    # Saved as Django saves an instance it loaded: an update, of the fields read.
    read.first_name = "Pete"
    read.save(update_fields=["first_name"])
    assert Contact.objects.get(pk=contact.pk).first_name == "Pete"


def test_a_model_with_init_receivers_or_field_setters_is_made_by_django():
    made = []

    def receiver(sender, instance, **kwargs):
        made.append(instance.pk)

    account = AccountFactory()
    signals.post_init.connect(receiver, sender=Account)
    try:
        assert Account.objects.get(pk=account.pk).pk == account.pk
    finally:
        signals.post_init.disconnect(receiver, sender=Account)
    assert made == [account.pk]

    # A file field's attribute has a setter of its own: Django's way.
    assert not loading._fills_directly(TabularImportJob, ["id", "file"])
    assert loading._fills_directly(Account, ["id", "name", "owner_id"])


def test_a_single_country_is_filled_as_django_fills_it():
    """django-countries' setter stores a single country's code (or "") as it is read: a lead or
    an account read directly is the instance Django's own way makes; a multiple country (its
    setter splits the text read) is left to Django."""
    from django_countries.fields import CountryDescriptor, CountryField

    from leads.models import Lead
    from tests.factories.leads import LeadFactory

    records = [LeadFactory(country="NZ"), LeadFactory(country=""), AccountFactory(country="DE")]
    for record in records:
        model = type(record)
        fields = [field.attname for field in model._meta.concrete_fields]
        assert loading._fills_directly(model, fields)
        row = model.objects.filter(pk=record.pk).values_list(*fields).get()
        ours = model.from_db("default", fields, row)
        djangos = loading._django_from_db(model, "default", fields, row)
        assert {k: v for k, v in vars(ours).items() if k != "_state"} == {
            k: v for k, v in vars(djangos).items() if k != "_state"
        }
        assert ours.country == djangos.country

    lead = Lead.objects.only("country").get(pk=records[0].pk)
    assert lead.country.code == "NZ" and lead.country.name == "New Zealand"
    assert not Lead.objects.only("country").get(pk=records[1].pk).country

    field = CountryField(multiple=True)
    field.name = "countries"

    class Holder:
        countries = CountryDescriptor(field)

    assert not loading._plain_attribute(Holder, "countries")
