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


class SignInOutcome(models.TextChoices):
    """How one attempt to sign in ended."""

    SUCCEEDED = "succeeded", "Signed in"
    FAILED = "failed", "Wrong username, email or password"
    LOCKED = "locked", "Refused: too many failed attempts"


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
