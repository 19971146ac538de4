"""Rows read from the database made into model instances without ``Model.__init__``.

Django makes each row read into an instance through ``Model.from_db``, which calls
``Model.__init__`` with a value for every concrete field: a page of 50 leads reads 15 of their 50
columns, and each of the 50 rows still walks the 50 fields (13.5 µs a lead, against under 1 µs
to fill the instance's attributes directly). A list page reads a hundred and more instances (the
rows and, through ``select_related``, their owners, accounts, stages), a seed millions.

``install()`` (``crm.apps``) gives every model a ``from_db`` that fills the attributes directly
when doing so is exactly what ``__init__`` would do, and Django's otherwise:

- the model keeps Django's ``__init__`` and ``__setattr__`` and has no ``pre_init`` or
  ``post_init`` receivers (signals ``__init__`` sends);
- every column read lands on an attribute with no setter of its own (Django's
  ``DeferredAttribute``), or on one whose setter stores a value read from the database as it
  is: a foreign key's ``..._id`` (its setter only forgets a related instance a new one cannot
  have cached) and a single country (django-countries' setter stores a code or None as it is;
  a multiple one splits the text it reads). A field with another setter (files, for example)
  takes Django's way.

The columns not read stay deferred, loaded on first use, as with Django's ``from_db``.
"""

from django.db.models import Model, signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django_countries.fields import CountryDescriptor

_django_from_db = Model.from_db.__func__

#: Per model and the columns read: whether the attributes may be filled directly.
_direct: dict[tuple[type, tuple[str, ...]], bool] = {}


def _fills_directly(cls, field_names) -> bool:
    key = (cls, tuple(field_names))
    direct = _direct.get(key)
    if direct is None:
        direct = (
            cls.__init__ is Model.__init__
            and cls.__setattr__ is object.__setattr__
            and all(_plain_attribute(cls, name) for name in field_names)
        )
        _direct[key] = direct
    return direct


def _plain_attribute(cls, name: str) -> bool:
    """Whether setting ``name`` on an instance of ``cls`` only stores the value."""
    descriptor = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
    if descriptor is None or type(descriptor) is ForeignKeyDeferredAttribute:
        return True
    if type(descriptor) is CountryDescriptor:
        return not descriptor.field.multiple
    return not hasattr(type(descriptor), "__set__") and not hasattr(type(descriptor), "__delete__")


def from_db(cls, db, field_names, values):
    if (
        signals.pre_init.has_listeners(cls)
        or signals.post_init.has_listeners(cls)
        or not _fills_directly(cls, field_names)
    ):
        return _django_from_db(cls, db, field_names, values)
    new = cls.__new__(cls)
    state = new._state = ModelState()
    state.adding = False
    state.db = db
    new.__dict__.update(zip(field_names, values, strict=True))
    return new


def install() -> None:
    """Make every model's rows through ``from_db`` above (models defining their own keep it)."""
    Model.from_db = classmethod(from_db)
