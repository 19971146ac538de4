import datetime as dt

import pytest

from crm.choices import Role
from support.choices import AssignmentMode, Priority
from support.models import SLAPolicy
from tests.factories.crm import TeamFactory, UserFactory
from tests.factories.support import BusinessCalendarFactory, QueueFactory


@pytest.fixture
def agent2(db):
    return UserFactory(username="agent2", roles=[Role.SUPPORT_AGENT])


@pytest.fixture
def support_manager(db, agent, agent2):
    """Manages the Support team (agent and agent2)."""
    user = UserFactory(username="support_manager", roles=[Role.MANAGER])
    TeamFactory(name="Support", members=[agent, agent2], managers=[user])
    return user


@pytest.fixture
def calendar(db):
    """Berlin office hours, Mon–Fri 09:00–17:00; Monday 21 December 2026 is a holiday."""
    return BusinessCalendarFactory(name="Berlin office", holidays=[dt.date(2026, 12, 21)])


@pytest.fixture
def policies(calendar):
    """Desk-wide targets: first response / resolution in business minutes per priority."""
    targets = {
        Priority.LOW: (480, 2400),
        Priority.NORMAL: (120, 960),
        Priority.HIGH: (60, 480),
        Priority.URGENT: (30, 240),
    }
    return {
        priority: SLAPolicy.objects.create(
            name=f"{priority} default",
            priority=priority,
            calendar=calendar,
            first_response_minutes=first,
            resolution_minutes=resolution,
        )
        for priority, (first, resolution) in targets.items()
    }


@pytest.fixture
def queue(support_manager, agent, agent2):
    from crm.models import Team

    return QueueFactory(
        name="General",
        team=Team.objects.get(name="Support"),
        is_default=True,
        assignment_mode=AssignmentMode.ROUND_ROBIN,
        agents=[agent, agent2],
    )
