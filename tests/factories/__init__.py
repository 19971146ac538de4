"""factory-boy factories for every model; each app's factories live in a module of its own."""

from .crm import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    OutboundEmailFactory,
    TaskFactory,
    TeamFactory,
    UserFactory,
    WebhookDeliveryFactory,
    WebhookEndpointFactory,
)

__all__ = [
    "AccountFactory",
    "ActivityFactory",
    "ContactFactory",
    "OutboundEmailFactory",
    "TaskFactory",
    "TeamFactory",
    "UserFactory",
    "WebhookDeliveryFactory",
    "WebhookEndpointFactory",
]
