import datetime as dt

import factory

from crm.choices import Role
from crm.models import Segment, SegmentSizeSnapshot
from crm.segments.choices import SegmentTarget
from tests.factories.crm import UserFactory


def condition(criterion, operator, value):
    return {"criterion": criterion, "operator": operator, "value": value}


def group(op, *children):
    return {"op": op, "children": list(children)}


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    target = SegmentTarget.CONTACT
    definition = factory.LazyFunction(lambda: group("and", condition("title", "contains", "VP")))
    owner = factory.SubFactory(UserFactory, roles=[Role.SALES_REP])
    shared = False


class SegmentSizeSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SegmentSizeSnapshot

    segment = factory.SubFactory(SegmentFactory)
    date = factory.Sequence(lambda n: dt.date(2026, 1, 1) + dt.timedelta(days=n))
    size = 100
