"""What every sales page shares: deals are for sellers only, and errors read as one line."""

from django.core.exceptions import ValidationError
from django.http import Http404

from crm.permissions import may_sell


def require_deals(user) -> None:
    """Support agents have no access to deals or amounts: every deal page is a 404 for them."""
    if not may_sell(user):
        raise Http404


class DealsOnlyMixin:
    """A list of deal data (deals, orders): a 404 for a signed-in user who does not sell."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            require_deals(request.user)
        return super().dispatch(request, *args, **kwargs)


def error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def get_or_none(selector, *, user, pk):
    """The record ``pk`` through ``selector``, or None for one out of reach or a malformed pk
    (a value picked in a form, where a miss is answered with a message, not a 404)."""
    try:
        return selector(user=user, pk=pk)
    except Http404:
        return None
