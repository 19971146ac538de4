from django.db import models


class LeadSource(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    IMPORT = "import", "Import"
    MANUAL = "manual", "Manual"
    REFERRAL = "referral", "Referral"
    CAMPAIGN = "campaign", "Campaign"
    API = "api", "API"


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    WORKING = "working", "Working"
    NURTURING = "nurturing", "Nurturing"
    QUALIFIED = "qualified", "Qualified"
    CONVERTED = "converted", "Converted"
    DISQUALIFIED = "disqualified", "Disqualified"


class DisqualifyReason(models.TextChoices):
    NO_BUDGET = "no_budget", "No budget"
    NO_NEED = "no_need", "No need"
    NO_AUTHORITY = "no_authority", "No authority"
    BAD_TIMING = "bad_timing", "Bad timing"
    COMPETITOR = "competitor", "Chose a competitor"
    UNREACHABLE = "unreachable", "Unreachable"
    SPAM = "spam", "Spam or invalid"
    DUPLICATE = "duplicate", "Duplicate"
    OTHER = "other", "Other"


class BuyingRole(models.TextChoices):
    UNKNOWN = "", "Unknown"
    DECISION_MAKER = "decision_maker", "Decision maker"
    ECONOMIC_BUYER = "economic_buyer", "Economic buyer"
    CHAMPION = "champion", "Champion"
    INFLUENCER = "influencer", "Influencer"
    USER = "user", "End user"
    GATEKEEPER = "gatekeeper", "Gatekeeper"


class NeedSeverity(models.TextChoices):
    UNKNOWN = "", "Unknown"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Grade(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"


class CampaignChannel(models.TextChoices):
    EMAIL = "email", "Email"
    WEB = "web", "Website"
    EVENT = "event", "Event"
    PAID_SEARCH = "paid_search", "Paid search"
    SOCIAL = "social", "Social"
    REFERRAL = "referral", "Referral"
    PARTNER = "partner", "Partner"
    OTHER = "other", "Other"


class ScoringCriterion(models.TextChoices):
    """What a scoring rule looks at: a field of the lead, or something the lead did."""

    TITLE_CONTAINS = "title_contains", "Job title contains"
    INDUSTRY_IS = "industry_is", "Industry is"
    EMPLOYEES_OVER = "employees_over", "Company size over N employees"
    BUDGET_CONFIRMED = "budget_confirmed", "Budget confirmed"
    EMAIL_REPLIED = "email_replied", "Replied to an email"
    MEETING_HELD = "meeting_held", "Meeting held"
    WEB_FORM_USED = "web_form_used", "Used a web form"


BEHAVIOUR_CRITERIA = frozenset(
    {ScoringCriterion.EMAIL_REPLIED, ScoringCriterion.MEETING_HELD, ScoringCriterion.WEB_FORM_USED}
)


class DedupePolicy(models.TextChoices):
    SKIP = "skip", "Skip rows that match an existing lead or contact"
    UPDATE = "update", "Update the matching lead"
    CREATE = "create", "Create anyway and flag as a possible duplicate"


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class SegmentEnrolmentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class StepAction(models.TextChoices):
    EMAIL = "email", "Send an email"
    TASK = "task", "Create a task for the owner"


class EnrollmentState(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    STOPPED = "stopped", "Stopped"


class EnrollmentStopReason(models.TextChoices):
    NONE = "", "—"
    REPLIED = "replied", "Replied"
    QUALIFIED = "qualified", "Qualified"
    CONVERTED = "converted", "Converted"
    DISQUALIFIED = "disqualified", "Disqualified"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    NO_CONSENT = "no_consent", "No consent"
    MANUAL = "manual", "Stopped by hand"


class EmailCampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"


class RecipientStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped"


class SkipReason(models.TextChoices):
    NONE = "", "—"
    NO_CONSENT = "no_consent", "No marketing consent"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    SUPPRESSED = "suppressed", "Suppressed address"
    DUPLICATE = "duplicate", "Duplicate address"
    NO_ADDRESS = "no_address", "No email address"


class SuppressionReason(models.TextChoices):
    BOUNCE = "bounce", "Bounce"
    COMPLAINT = "complaint", "Complaint"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe"
    MANUAL = "manual", "Added by hand"
    ERASED = "erased", "Person erased (address kept as a hash)"


class AttributionTouch(models.TextChoices):
    FIRST = "first", "First touch"
    LAST = "last", "Last touch"


class LeadAuditAction(models.TextChoices):
    """Lines the leads app adds to the security audit trail (``crm.registry.audit_actions``)."""

    MERGE_UNDONE = "lead.merge_undone", "Lead merge undone"


class LeadMergeKind(models.TextChoices):
    LEAD = "lead", "Lead into lead"
    CONTACT = "contact", "Lead into contact"
