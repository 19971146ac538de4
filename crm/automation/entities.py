"""The core's records rules watch: accounts and contacts. Registered from ``crm/apps.py``."""

from crm.automation.registry import automation


def register() -> None:
    from crm.choices import LifecycleStage
    from crm.models import Account, Contact

    automation.register_entity(
        "account",
        Account,
        label="account",
        stage_field="lifecycle_stage",
        stage_choices=lambda: LifecycleStage.choices,
    )
    automation.register_field(
        "account",
        "lifecycle_stage",
        "Lifecycle stage",
        kind="choice",
        choices=lambda: LifecycleStage.choices,
    )
    automation.register_entity("contact", Contact, label="contact")
    automation.register_recipient("contact", "account_owner", "The account's owner", _account_owner)


def _account_owner(record):
    account = getattr(record, "account", None)
    return account.owner if account is not None else None


def account_owner(record):
    """The owner of the record's account (a contact's, a deal's, a ticket's)."""
    return _account_owner(record)
