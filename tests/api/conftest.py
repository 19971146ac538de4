import pytest
from rest_framework.test import APIClient

from crm.models import ApiTokenScope
from crm.services.api_tokens import api_token_create


def token_for(user, scope=ApiTokenScope.WRITE, days=30) -> str:
    return api_token_create(user=user, name="integration", scope=scope, days=days).secret


def client_for(user, scope=ApiTokenScope.WRITE) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, scope)}")
    return client


@pytest.fixture
def api(rep):
    """The API as ``rep``, with a read and write token."""
    return client_for(rep)


@pytest.fixture
def api_as():
    return client_for
