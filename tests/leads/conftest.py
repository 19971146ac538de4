import pytest
from django.contrib.auth.models import Group

from crm.choices import Role


@pytest.fixture
def role_groups(db):
    """The role groups, for transactional tests that run after another transactional test
    emptied every table (the data migration's groups included)."""
    for role in Role.values:
        Group.objects.get_or_create(name=role)
