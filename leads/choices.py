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
