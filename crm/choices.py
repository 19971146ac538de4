from django.db import models


class Role(models.TextChoices):
    """The four roles; each is a Django group made by a data migration."""

    SALES_REP = "Sales rep", "Sales rep"
    SUPPORT_AGENT = "Support agent", "Support agent"
    MANAGER = "Manager", "Manager"
    ADMIN = "Admin", "Admin"


class LifecycleStage(models.TextChoices):
    PROSPECT = "prospect", "Prospect"
    CUSTOMER = "customer", "Customer"
    CHURNED = "churned", "Churned"


class Industry(models.TextChoices):
    SOFTWARE = "software", "Software"
    MANUFACTURING = "manufacturing", "Manufacturing"
    RETAIL = "retail", "Retail"
    FINANCE = "finance", "Financial services"
    HEALTHCARE = "healthcare", "Healthcare"
    EDUCATION = "education", "Education"
    LOGISTICS = "logistics", "Logistics"
    MEDIA = "media", "Media"
    CONSULTING = "consulting", "Consulting"
    PUBLIC = "public", "Public sector"
    ENERGY = "energy", "Energy"
    OTHER = "other", "Other"


class SizeBand(models.TextChoices):
    MICRO = "1-10", "1–10"
    SMALL = "11-50", "11–50"
    MEDIUM = "51-200", "51–200"
    LARGE = "201-1000", "201–1,000"
    ENTERPRISE = "1000+", "1,000+"


class ActivityKind(models.TextChoices):
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    MEETING = "meeting", "Meeting"
    NOTE = "note", "Note"
    SYSTEM = "system", "System event"


class OutboxStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class SignInOutcome(models.TextChoices):
    """How one attempt to sign in ended."""

    SUCCEEDED = "succeeded", "Signed in"
    FAILED = "failed", "Wrong username, email or password"
    LOCKED = "locked", "Refused: too many failed attempts"


class AuditAction(models.TextChoices):
    """What the security audit trail records of the shared core. Other apps add their own codes
    to ``crm.registry.audit_actions`` (the trail's action column is free text, checked against
    that registry), so a new code needs no migration."""

    USER_INVITED = "user.invited", "User invited"
    INVITATION_RESENT = "user.invitation_resent", "Invitation sent again"
    USER_ACTIVATED = "user.activated", "User reactivated"
    USER_DEACTIVATED = "user.deactivated", "User deactivated"
    ROLES_CHANGED = "user.roles_changed", "Roles changed"
    TEAMS_CHANGED = "user.teams_changed", "Teams changed"
    MFA_RESET = "user.mfa_reset", "Second factor reset by an admin"
    ACCOUNT_UNLOCKED = "user.unlocked", "Sign-in lockout cleared"
    ADDRESS_UNLOCKED = "address.unlocked", "Address lockout cleared"
    PASSWORD_RESET_REQUESTED = "password.reset_requested", "Password reset requested"
    PASSWORD_RESET = "password.reset", "Password set from an emailed link"
    PASSWORD_CHANGED = "password.changed", "Password changed"
    MFA_ENABLED = "mfa.enabled", "Second factor turned on"
    MFA_DISABLED = "mfa.disabled", "Second factor turned off"
    RECOVERY_CODES_REGENERATED = "mfa.recovery_codes_regenerated", "Recovery codes regenerated"
    TEAM_CREATED = "team.created", "Team created"
    TEAM_CHANGED = "team.changed", "Team changed"
    SIGNIN_HISTORY_PRUNED = "signin_history.pruned", "Sign-in history pruned"
    AUDIT_PRUNED = "audit.pruned", "Audit trail pruned"
    API_TOKEN_CREATED = "api_token.created", "API token created"
    API_TOKEN_REVOKED = "api_token.revoked", "API token revoked"
    WEBHOOK_CREATED = "webhook.created", "Webhook endpoint added"
    WEBHOOK_CHANGED = "webhook.changed", "Webhook endpoint changed"
    WEBHOOK_DELETED = "webhook.deleted", "Webhook endpoint deleted"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated", "Webhook secret rotated"
    RECORDS_EXPORTED = "records.exported", "Records exported"
    RECORD_RESTORED = "trash.restored", "Record restored from the trash"
    TRASH_DELETED_FOREVER = "trash.deleted_forever", "Record deleted forever from the trash"
    TRASH_PURGED = "trash.purged", "Trash purged"
    PERSONAL_DATA_EXPORTED = "personal_data.exported", "A person's data exported"
    PERSONAL_DATA_ERASED = "personal_data.erased", "A person erased"
    CONTACT_MERGED = "contact.merged", "Contacts merged"
    CONTACT_MERGE_UNDONE = "contact.merge_undone", "Contact merge undone"
    ACCOUNT_MERGED = "account.merged", "Accounts merged"
    ACCOUNT_MERGE_UNDONE = "account.merge_undone", "Account merge undone"


class WebhookDeliveryState(models.TextChoices):
    """Where one webhook delivery (one event for one endpoint) stands."""

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class TabularImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class TabularImportMode(models.TextChoices):
    BOTH = "both", "Create new records and update existing ones"
    CREATE = "create", "Only create new records"
    UPDATE = "update", "Only update existing records"


class MailAuth(models.TextChoices):
    PASSWORD = "password", "Password"
    GOOGLE = "google", "Google (OAuth2)"
    MICROSOFT = "microsoft", "Microsoft 365 (OAuth2)"


class MailSecurity(models.TextChoices):
    SSL = "ssl", "SSL/TLS"
    STARTTLS = "starttls", "STARTTLS"
    NONE = "none", "None (local servers only)"


class TemplateSharing(models.TextChoices):
    """Who may use an email template besides its owner."""

    PRIVATE = "private", "Only me"
    TEAM = "team", "My teams"
    ALL = "all", "Everyone"


class ComposedStatus(models.TextChoices):
    """Where an email written from a record stands, as its sender sees it."""

    SCHEDULED = "scheduled", "Scheduled"
    QUEUED = "queued", "Sending"
    SENT = "sent", "Sent"
    OPENED = "opened", "Opened"
    CLICKED = "clicked", "Clicked"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class MeetingStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    CANCELLED = "cancelled", "Cancelled"


class AttendeeResponse(models.TextChoices):
    """An attendee's answer to an invitation, as iCalendar's PARTSTAT names it."""

    NEEDS_ACTION = "needs_action", "Not answered yet"
    ACCEPTED = "accepted", "Accepted"
    TENTATIVE = "tentative", "Maybe"
    DECLINED = "declined", "Declined"


class MailSyncStatus(models.TextChoices):
    """Where a connected mailbox's periodic sync stands (shown on the mailbox settings page)."""

    WAITING = "waiting", "Up to date"
    RUNNING = "running", "Syncing"
    RETRYING = "retrying", "Retrying after a network error"
    ATTENTION = "attention", "Needs attention"


class MailDirection(models.TextChoices):
    """Whether a stored email came from a customer to us, or went from us to a customer."""

    INBOUND = "in", "Received"
    OUTBOUND = "out", "Sent"


class ExchangeRateSource(models.TextChoices):
    """How an exchange rate reached the table."""

    MANUAL = "manual", "Entered by hand"
    CSV = "csv", "CSV upload"
