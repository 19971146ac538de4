"""The ``data`` of the core's events: an account and a contact, with their owner and page."""

from crm.webhooks import record_url


def user_ref(user) -> dict | None:
    """A user as events name them (owners, assignees)."""
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username(), "email": user.email}


def account_ref(account) -> dict | None:
    if account is None:
        return None
    return {"id": account.pk, "name": account.name, "url": record_url(account)}


def account_data(account) -> dict:
    return {
        "id": account.pk,
        "name": account.name,
        "domain": account.domain,
        "industry": account.industry,
        "size": account.size_band,
        "country": str(account.country or ""),
        "lifecycle_stage": account.lifecycle_stage,
        "owner": user_ref(account.owner),
        "created_at": account.created_at,
        "url": record_url(account),
    }


def contact_data(contact) -> dict:
    return {
        "id": contact.pk,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "phone": contact.phone,
        "title": contact.title,
        "account": account_ref(contact.account),
        "owner": user_ref(contact.owner),
        "email_consent": contact.email_consent,
        "marketing_consent": contact.marketing_consent,
        "created_at": contact.created_at,
        "url": record_url(contact),
    }
