from django.db import models


class Channel(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    CHAT = "chat", "Chat"
    INTERNAL = "internal", "Internal"


class Priority(models.TextChoices):
    """In rising urgency; ``Priority.raised`` gives the next step up (escalations)."""

    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"

    @classmethod
    def raised(cls, value: str) -> str:
        order = list(cls.values)
        return order[min(order.index(value) + 1, len(order) - 1)]


class TicketStatus(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending customer"
    ON_HOLD = "on_hold", "On hold"
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


#: Statuses in which a ticket is still being worked (the desk's queues show these).
ACTIVE_STATUSES = (
    TicketStatus.NEW,
    TicketStatus.OPEN,
    TicketStatus.PENDING,
    TicketStatus.ON_HOLD,
)

#: The only status changes allowed; everything else is refused by ``ticket_change_status``.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    TicketStatus.NEW: frozenset(
        {
            TicketStatus.OPEN,
            TicketStatus.PENDING,
            TicketStatus.ON_HOLD,
            TicketStatus.SOLVED,
            TicketStatus.CLOSED,
        }
    ),
    TicketStatus.OPEN: frozenset(
        {TicketStatus.PENDING, TicketStatus.ON_HOLD, TicketStatus.SOLVED, TicketStatus.CLOSED}
    ),
    TicketStatus.PENDING: frozenset(
        {TicketStatus.OPEN, TicketStatus.ON_HOLD, TicketStatus.SOLVED, TicketStatus.CLOSED}
    ),
    TicketStatus.ON_HOLD: frozenset(
        {TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.SOLVED, TicketStatus.CLOSED}
    ),
    TicketStatus.SOLVED: frozenset({TicketStatus.OPEN, TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset(),
}


class Category(models.TextChoices):
    QUESTION = "question", "Question"
    PROBLEM = "problem", "Problem"
    BILLING = "billing", "Billing"
    ACCOUNT = "account", "Account access"
    FEATURE = "feature", "Feature request"
    OTHER = "other", "Other"


class AssignmentMode(models.TextChoices):
    ROUND_ROBIN = "round_robin", "Round robin"
    LEAST_OPEN = "least_open", "Fewest open tickets"
    MANUAL = "manual", "Manual"


class MessageKind(models.TextChoices):
    REPLY = "reply", "Public reply"
    NOTE = "note", "Internal note"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class SupportAuditAction(models.TextChoices):
    """Lines the support app adds to the security audit trail (``crm.registry.audit_actions``)."""

    TICKET_MERGE_UNDONE = "ticket.merge_undone", "Ticket merge undone"


class ArticleStatus(models.TextChoices):
    """A knowledge-base article's life: written as a draft, published, archived when outdated."""

    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


#: The status changes an article allows (``Article.set_status`` checks against this map).
ARTICLE_TRANSITIONS = {
    ArticleStatus.DRAFT: {ArticleStatus.PUBLISHED, ArticleStatus.ARCHIVED},
    ArticleStatus.PUBLISHED: {ArticleStatus.DRAFT, ArticleStatus.ARCHIVED},
    ArticleStatus.ARCHIVED: {ArticleStatus.DRAFT, ArticleStatus.PUBLISHED},
}


class ArticleVisibility(models.TextChoices):
    INTERNAL = "internal", "Internal (staff only)"
    PUBLIC = "public", "Public (help centre)"


class HelpSearchSource(models.TextChoices):
    """Where a knowledge-base search was made."""

    HELP_CENTRE = "help_centre", "Help centre"
    TICKET_FORM = "ticket_form", "Ticket form"
    AGENT = "agent", "Agent reply box"


class DeflectionStep(models.TextChoices):
    """A visitor's way from a suggestion on the public ticket form to an answered question."""

    SHOWN = "shown", "Suggested"
    OPENED = "opened", "Opened"
    DEFLECTED = "deflected", "Solved without a ticket"
