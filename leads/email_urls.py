"""URLs of email campaigns, added to ``leads.urls``."""

from django.urls import path

from leads.views import email_campaigns, email_tracking

urlpatterns = [
    path("e/o/<str:token>.gif", email_tracking.email_open, name="email_open"),
    path("e/c/<str:token>/", email_tracking.email_click, name="email_click"),
    path("e/u/<str:token>/", email_tracking.contact_unsubscribe, name="contact_unsubscribe"),
    path("e/bounce/", email_tracking.bounce_webhook, name="email_bounce"),
    path(
        "email-campaigns/",
        email_campaigns.EmailCampaignListView.as_view(),
        name="email_campaign_list",
    ),
    path("email-campaigns/new/", email_campaigns.email_campaign_form, name="email_campaign_create"),
    path(
        "email-campaigns/audience/",
        email_campaigns.email_campaign_audience,
        name="email_campaign_audience",
    ),
    path(
        "email-campaigns/preview/",
        email_campaigns.email_campaign_preview,
        name="email_campaign_preview",
    ),
    path(
        "email-campaigns/<int:pk>/",
        email_campaigns.EmailCampaignDetailView.as_view(),
        name="email_campaign_detail",
    ),
    path(
        "email-campaigns/<int:pk>/edit/",
        email_campaigns.email_campaign_form,
        name="email_campaign_edit",
    ),
    path(
        "email-campaigns/<int:pk>/schedule/",
        email_campaigns.email_campaign_schedule,
        name="email_campaign_schedule",
    ),
    path(
        "email-campaigns/<int:pk>/unschedule/",
        email_campaigns.email_campaign_unschedule,
        name="email_campaign_unschedule",
    ),
    path(
        "email-campaigns/<int:pk>/cancel/",
        email_campaigns.email_campaign_cancel,
        name="email_campaign_cancel",
    ),
    path(
        "leads/campaigns/<int:pk>/roi/",
        email_campaigns.campaign_roi_panel,
        name="campaign_roi",
    ),
]
