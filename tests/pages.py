"""The main pages of the demo (``seed_demo``), per role and for visitors without a login: every
list, a detail page of each kind, the dashboards, the forms and the builders. The security-header
tests and the browser test that every page runs without a console error walk the same list."""

from django.urls import reverse

from crm.models import Account, Contact, MailMessage, Meeting, MeetingAttendee, Segment, User
from leads.booking.models import BookingPage
from leads.campaigns.models import EmailCampaign
from leads.models import Campaign, Lead, Sequence
from retention.models import Advocate, NpsSurvey, Subscription
from sales.models import OnboardingPlan, Opportunity, Order, Quote
from support import surveys
from support.models import Article, CsatSurvey, Ticket

ROLES = ("rep", "agent", "manager", "admin")


def _first(queryset, user=None):
    if user is not None:
        queryset = queryset.visible_to(user)
    return queryset.order_by("pk").first()


def _detail(pages, name, obj, label):
    if obj is not None:
        pages.append((label, reverse(name, args=[obj.pk])))


def pages_for(username: str) -> list[tuple[str, str]]:
    """``(label, path)`` of the pages ``username`` (a demo user) opens from the navigation."""
    user = User.objects.get(username=username)
    pages = [
        ("Home", reverse("home")),
        ("Search", reverse("search") + "?q=a"),
        ("Accounts", reverse("account_list")),
        ("Contacts", reverse("contact_list")),
        ("Duplicate contacts", reverse("contact_duplicate_list")),
        ("Duplicate accounts", reverse("account_duplicate_list")),
        ("Tasks", reverse("task_list")),
        ("Segments", reverse("segment_list")),
        ("Segment builder", reverse("segment_create")),
        ("My meetings", reverse("meeting_list")),
        ("Calendar", reverse("calendar_settings")),
        ("Knowledge base", reverse("support:article_list")),
        ("Mailbox", reverse("mailbox_settings")),
    ]
    meeting = _first(Meeting.objects.involving(user).filter(status="scheduled"))
    _detail(pages, "meeting_detail", meeting, "Meeting")
    _detail(pages, "support:article_detail", _first(Article.objects, user), "Article")
    _detail(pages, "account_detail", _first(Account.objects, user), "Account")
    _detail(pages, "contact_detail", _first(Contact.objects, user), "Contact")
    _detail(pages, "mail_message_detail", _first(MailMessage.objects, user), "Email")
    _detail(pages, "segment_edit", _first(Segment.objects, user), "Segment (builder)")
    sells = username in ("rep", "manager", "admin")
    supports = username in ("agent", "manager", "admin")
    manages = username in ("manager", "admin")
    if sells:
        pages += [
            ("New account", reverse("account_create")),
            ("New contact", reverse("contact_create")),
            ("Leads", reverse("leads:lead_list")),
            ("New lead", reverse("leads:lead_create")),
            ("Duplicates", reverse("leads:duplicate_list")),
            ("Sequences", reverse("leads:sequence_list")),
            ("Deals", reverse("sales:opportunity_list")),
            ("New deal", reverse("sales:opportunity_create")),
            ("Board", reverse("sales:board_default")),
            ("Forecast", reverse("sales:forecast")),
            ("Orders", reverse("sales:order_list")),
            ("Onboarding", reverse("sales:onboarding_board")),
            ("Subscriptions", reverse("retention:subscription_list")),
            ("Renewals", reverse("retention:renewals")),
            ("Upsell", reverse("retention:upsell")),
            ("Email templates", reverse("email_template_list")),
            ("New email template", reverse("email_template_create")),
            ("Email signature", reverse("email_signature")),
            ("Booking page", reverse("leads:booking_settings")),
        ]
        if meeting is not None and meeting.organizer_id == user.pk:
            _detail(pages, "meeting_edit", meeting, "Meeting (edit)")
        lead = _first(Lead.objects, user)
        _detail(pages, "leads:lead_detail", lead, "Lead")
        _detail(pages, "leads:lead_edit", lead, "Lead (edit)")
        _detail(pages, "leads:sequence_detail", _first(Sequence.objects), "Sequence")
        _detail(pages, "leads:campaign_detail", _first(Campaign.objects), "Campaign")
        deal = _first(Opportunity.objects, user)
        _detail(pages, "sales:opportunity_detail", deal, "Deal")
        _detail(pages, "sales:opportunity_edit", deal, "Deal (edit)")
        if deal is not None:
            pages.append(("Send email (deal)", reverse("compose", args=["deal", deal.pk])))
        quote = _first(Quote.objects.filter(opportunity__in=Opportunity.objects.visible_to(user)))
        _detail(pages, "sales:quote_detail", quote, "Quote")
        _detail(pages, "sales:order_detail", _first(Order.objects, user), "Order")
        _detail(pages, "sales:onboarding_detail", _first(OnboardingPlan.objects, user), "Plan")
        _detail(pages, "retention:subscription_detail", _first(Subscription.objects, user), "Sub.")
    if supports:
        pages += [
            ("Tickets", reverse("support:ticket_list")),
            ("My queue", reverse("support:my_queue")),
            ("Unassigned", reverse("support:unassigned")),
            ("Breaching", reverse("support:breaching")),
            ("New ticket", reverse("support:ticket_create")),
            ("Canned replies", reverse("support:canned_list")),
            ("Queues", reverse("support:queue_list")),
            ("New article", reverse("support:article_create")),
        ]
        _detail(pages, "support:article_edit", _first(Article.objects, user), "Article (edit)")
        _detail(pages, "support:ticket_detail", _first(Ticket.objects, user), "Ticket")
    if manages:
        pages += [
            ("Exchange rates", reverse("exchange_rate_list")),
            ("At risk", reverse("retention:at_risk")),
            ("Churn", reverse("retention:churn_list")),
            ("NPS", reverse("retention:nps")),
            ("Advocacy", reverse("retention:advocacy")),
            ("Dashboards", reverse("analytics:index")),
            ("Pipeline dashboard", reverse("analytics:pipeline")),
            ("Funnel dashboard", reverse("analytics:funnel")),
            ("Support dashboard", reverse("analytics:support")),
            ("Retention dashboard", reverse("analytics:retention")),
            ("CLV", reverse("analytics:clv")),
            ("Lead import", reverse("leads:import_start")),
            ("Unassigned leads", reverse("leads:unassigned_leads")),
            ("Email campaigns", reverse("leads:email_campaign_list")),
            ("Knowledge base report", reverse("support:kb_report")),
            ("Knowledge base categories", reverse("support:article_category_list")),
            ("New email campaign", reverse("leads:email_campaign_create")),
        ]
        _detail(
            pages, "leads:email_campaign_detail", _first(EmailCampaign.objects), "Email campaign"
        )
        _detail(pages, "retention:advocate_detail", _first(Advocate.objects, user), "Advocate")
    if username == "admin":
        pages += [
            ("Background work", reverse("work_problems")),
            ("Django admin", reverse("admin:index")),
            ("Admin: accounts", reverse("admin:crm_account_changelist")),
        ]
    return pages


def public_pages() -> list[tuple[str, str]]:
    """Pages reached without a login: sign-in, the web-to-lead form, the support request form,
    the survey and referral links from emails."""
    pages = [
        ("Sign in", reverse("login")),
        ("Support request", reverse("support:public_new")),
        ("Support request sent", reverse("support:public_thanks")),
        ("Help centre", reverse("support:help_home")),
        ("Help centre search", reverse("support:help_search") + "?q=password"),
    ]
    article = Article.objects.public().order_by("pk").first()
    if article is not None:
        pages.append(("Help article", article.get_public_url()))
        if article.category_id:
            pages.append(("Help category", article.category.get_public_url()))
    campaign = Campaign.objects.filter(is_active=True).exclude(slug="").order_by("pk").first()
    if campaign is not None:
        pages.append(("Web form", reverse("leads:web_form", args=[campaign.slug])))
        pages.append(("Web form sent", reverse("leads:web_form_thanks", args=[campaign.slug])))
    booking = BookingPage.objects.filter(enabled=True).order_by("pk").first()
    if booking is not None:
        pages.append(("Booking page", reverse("leads:booking_public", args=[booking.slug])))
        pages.append(("Booked", reverse("leads:booking_done", args=[booking.slug])))
    guest = MeetingAttendee.objects.filter(meeting__status="scheduled").order_by("pk").first()
    if guest is not None:
        pages.append(("Meeting answer", reverse("meeting_answer", args=[guest.token])))
    csat = CsatSurvey.objects.filter(answered_at__isnull=True).order_by("pk").first()
    if csat is not None:
        token = surveys.make_token(kind="csat", key=csat.token)
        pages.append(("CSAT survey", reverse("support:survey", args=[token])))
    nps = NpsSurvey.objects.filter(answered_at__isnull=True).order_by("pk").first()
    if nps is not None:
        token = surveys.make_token(kind="nps", key=nps.key)
        pages.append(("NPS survey", reverse("support:survey", args=[token])))
    advocate = Advocate.objects.exclude(code="").order_by("pk").first()
    if advocate is not None:
        pages.append(("Referral", reverse("retention:referral", args=[advocate.code])))
    return pages
