from django.urls import path

from leads.campaigns.urls import urlpatterns as email_campaign_urls
from leads.views import booking, imports, leads, merge, public, sequence_tracking, sequences

app_name = "leads"

urlpatterns = [
    path("leads/", leads.LeadListView.as_view(), name="lead_list"),
    path("leads/new/", leads.LeadFormView.as_view(), name="lead_create"),
    path("leads/bulk/", leads.lead_bulk, name="lead_bulk"),
    path("leads/duplicates/", leads.DuplicateListView.as_view(), name="duplicate_list"),
    path("leads/unassigned/", leads.UnassignedLeadListView.as_view(), name="unassigned_leads"),
    path("leads/<int:pk>/", leads.LeadDetailView.as_view(), name="lead_detail"),
    path("leads/<int:pk>/edit/", leads.LeadFormView.as_view(), name="lead_edit"),
    path("leads/<int:pk>/delete/", leads.LeadDeleteView.as_view(), name="lead_delete"),
    path("leads/<int:pk>/status/", leads.lead_status, name="lead_status"),
    path("leads/<int:pk>/convert/", leads.lead_convert, name="lead_convert"),
    path("leads/<int:pk>/reassign/", leads.lead_reassign, name="lead_reassign"),
    path("leads/<int:pk>/replied/", leads.lead_replied, name="lead_replied"),
    path("leads/<int:pk>/enrol/", leads.lead_enrol, name="lead_enrol"),
    path("leads/<int:pk>/merge/", merge.lead_merge, name="lead_merge"),
    path("leads/<int:pk>/not-duplicate/", leads.lead_not_duplicate, name="lead_not_duplicate"),
    path(
        "leads/<int:pk>/merge-into-contact/",
        merge.lead_merge_into_contact,
        name="lead_merge_into_contact",
    ),
    path("leads/merges/<int:pk>/undo/", merge.lead_merge_undo, name="lead_merge_undo"),
    path("leads/campaigns/<int:pk>/", leads.campaign_detail, name="campaign_detail"),
    path("leads/imports/", imports.import_start, name="import_start"),
    path("leads/imports/<int:pk>/", imports.import_detail, name="import_detail"),
    path("leads/imports/<int:pk>/progress/", imports.import_progress, name="import_progress"),
    path("leads/imports/<int:pk>/resume/", imports.import_resume, name="import_resume"),
    path("leads/imports/<int:pk>/errors.csv", imports.import_errors, name="import_errors"),
    path("leads/sequences/", sequences.sequence_list, name="sequence_list"),
    path("leads/sequences/<int:pk>/", sequences.sequence_detail, name="sequence_detail"),
    path(
        "leads/sequences/enrolments/<int:pk>/",
        sequences.segment_enrolment_detail,
        name="segment_enrolment_detail",
    ),
    path(
        "leads/sequences/enrolments/<int:pk>/resume/",
        sequences.segment_enrolment_resume,
        name="segment_enrolment_resume",
    ),
    path(
        "leads/sequences/<int:pk>/enrol-segment/",
        sequences.sequence_enrol_segment,
        name="sequence_enrol_segment",
    ),
    path(
        "e/so/<str:token>.gif",
        sequence_tracking.sequence_email_open,
        name="sequence_email_open",
    ),
    path(
        "e/sc/<str:token>/",
        sequence_tracking.sequence_email_click,
        name="sequence_email_click",
    ),
    path("settings/booking/", booking.booking_settings, name="booking_settings"),
    path("book/<slug:slug>/", booking.booking_public, name="booking_public"),
    path("book/<slug:slug>/booked/", booking.booking_done, name="booking_done"),
    path("forms/<slug:slug>/", public.web_form, name="web_form"),
    path("forms/<slug:slug>/thanks/", public.web_form_thanks, name="web_form_thanks"),
    path("unsubscribe/<str:token>/", public.unsubscribe, name="unsubscribe"),
]

# Email campaigns keep their routes in their package.
urlpatterns += email_campaign_urls
