"""The ``data`` of the core's events: an account and a contact, with their owner and page."""

from crm.webhooks import record_url


def user_ref(user) -> dict | None:
    """A user as events name them (owners, assignees)."""
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username(), "email": user.email}


def custom_data(record) -> dict:
    """The record's custom values (``{key: value}`` as stored, the API's form) of its kind's
    active fields; every event of a record that carries custom fields sends them."""
    from crm.custom_fields.definitions import fields_for
    from crm.custom_fields.registry import custom_field_entities

    stored = getattr(record, "custom", None) or {}
    entity = custom_field_entities.for_model(type(record))
    if not stored or entity is None:
        return {}
    return {f.key: stored[f.key] for f in fields_for(entity.key) if f.key in stored}


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
        "custom": custom_data(account),
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
        "custom": custom_data(contact),
        "url": record_url(contact),
    }
