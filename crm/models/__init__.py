from .activities import Activity, Task
from .api import ApiIdempotencyKey, ApiToken, ApiTokenScope
from .audit import AuditEvent
from .automation import Rule, RuleMatch, RuleRun, RuleRunStep
from .catalog import CatalogVersion
from .compose import ComposeAttachment, ComposedEmail, EmailTemplate
from .consents import ConsentChannel, ConsentEvent
from .currencies import ExchangeRate
from .custom_fields import CustomField, CustomFieldKind
from .customers import Account, Contact
from .duplicates import AccountDuplicate, ContactDuplicate, DuplicateDismissal
from .mail import (
    Mailbox,
    MailboxFolder,
    MailLink,
    MailLoggingAddress,
    MailLoggingCheckpoint,
    MailMessage,
    MailMessageSeen,
    MailThread,
)
from .meetings import CalendarFeed, Meeting, MeetingAttendee
from .merges import AccountMerge, ContactMerge
from .notifications import Notification, NotificationSettings
from .outbox import OutboundEmail
from .saved_views import SavedView
from .segments import Segment, SegmentSizeSnapshot  # noqa: F401
from .signins import SignInEvent
from .submissions import SubmittedForm
from .tabular import TabularImportJob, TabularImportRowError
from .trash import TrashedRecord
from .users import Team, User
from .webhooks import WebhookDelivery, WebhookEndpoint
from .work import BeatLeader, TaskFailureCount, WorkHeartbeat

__all__ = [
    "Account",
    "AccountMerge",
    "AccountDuplicate",
    "Activity",
    "AuditEvent",
    "CatalogVersion",
    "Rule",
    "RuleMatch",
    "RuleRun",
    "RuleRunStep",
    "BeatLeader",
    "ComposeAttachment",
    "ComposedEmail",
    "EmailTemplate",
    "CalendarFeed",
    "ApiIdempotencyKey",
    "ApiToken",
    "ApiTokenScope",
    "ConsentChannel",
    "ConsentEvent",
    "Contact",
    "CustomField",
    "CustomFieldKind",
    "ExchangeRate",
    "ContactMerge",
    "ContactDuplicate",
    "DuplicateDismissal",
    "MailLink",
    "MailLoggingAddress",
    "MailLoggingCheckpoint",
    "Mailbox",
    "Meeting",
    "MeetingAttendee",
    "MailboxFolder",
    "MailMessage",
    "MailMessageSeen",
    "MailThread",
    "Notification",
    "NotificationSettings",
    "OutboundEmail",
    "SavedView",
    "SignInEvent",
    "SubmittedForm",
    "TabularImportJob",
    "TabularImportRowError",
    "Task",
    "TrashedRecord",
    "Team",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "TaskFailureCount",
    "WorkHeartbeat",
]
