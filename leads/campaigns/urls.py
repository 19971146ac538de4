"""URLs of email campaigns, added to ``leads.urls`` (the ``leads:`` namespace)."""

from django.urls import path

from leads.campaigns.views import pages, tracking

urlpatterns = [
    path("e/o/<str:token>.gif", tracking.email_open, name="email_open"),
    path("e/c/<str:token>/", tracking.email_click, name="email_click"),
    path("e/u/<str:token>/", tracking.contact_unsubscribe, name="contact_unsubscribe"),
    path("e/bounce/", tracking.bounce_webhook, name="email_bounce"),
    path(
        "email-campaigns/",
        pages.EmailCampaignListView.as_view(),
        name="email_campaign_list",
    ),
    path("email-campaigns/new/", pages.email_campaign_form, name="email_campaign_create"),
    path(
        "email-campaigns/audience/",
        pages.email_campaign_audience,
        name="email_campaign_audience",
    ),
    path(
        "email-campaigns/preview/",
        pages.email_campaign_preview,
        name="email_campaign_preview",
    ),
    path(
        "email-campaigns/<int:pk>/",
        pages.EmailCampaignDetailView.as_view(),
        name="email_campaign_detail",
    ),
    path(
        "email-campaigns/<int:pk>/edit/",
        pages.email_campaign_form,
        name="email_campaign_edit",
    ),
    path(
        "email-campaigns/<int:pk>/schedule/",
        pages.email_campaign_schedule,
        name="email_campaign_schedule",
    ),
    path(
        "email-campaigns/<int:pk>/unschedule/",
        pages.email_campaign_unschedule,
        name="email_campaign_unschedule",
    ),
    path(
        "email-campaigns/<int:pk>/cancel/",
        pages.email_campaign_cancel,
        name="email_campaign_cancel",
    ),
    path(
        "leads/campaigns/<int:pk>/roi/",
        pages.campaign_roi_panel,
        name="campaign_roi",
    ),
]
