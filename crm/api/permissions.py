"""What an authenticated API request may do at all; which records it reaches is the selectors'
business (the same ``visible_to`` / ``changeable_by`` as the pages)."""

from rest_framework import permissions

from crm.models import ApiToken
from crm.permissions import has_role


class TokenScope(permissions.BasePermission):
    """A read token reads only: every write answers 403."""

    message = "This token is read only: create a read and write token to change records."

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        token = request.auth
        return not isinstance(token, ApiToken) or token.may_write


class HoldsRole(permissions.BasePermission):
    """A user without a role sees nothing in the CRM, and nothing in the API."""

    message = "Your account holds no role in the CRM."

    def has_permission(self, request, view):
        return has_role(request.user)
