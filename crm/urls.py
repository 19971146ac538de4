from allauth.account import views as account_views
from django.contrib import admin
from django.urls import include, path

from crm.views import (
    assets,
    customers,
    health,
    home,
    me,
    search,
    segments,
    tabular,
    timeline,
    work,
)

# Django admin has no sign-in form of its own: it sends to the CRM's (lockout, second factor).
admin.site.login = me.admin_login

urlpatterns = [
    path("", home.home, name="home"),
    path("login/", account_views.login, name="login"),
    path("logout/", account_views.logout, name="logout"),
    # allauth's pages: password reset and change, the second factor, sessions.
    path("auth/", include("allauth.urls")),
    path("me/", me.user_settings, name="user_settings"),
    path("me/sign-out-everywhere/", me.sign_out_everywhere, name="sign_out_everywhere"),
    path("healthz", health.healthz, name="healthz"),
    path("favicon.ico", assets.favicon, name="favicon"),
    path("search/", search.search, name="search"),
    path("accounts/", customers.AccountListView.as_view(), name="account_list"),
    path("accounts/new/", customers.AccountFormView.as_view(), name="account_create"),
    path("accounts/autocomplete/", customers.account_autocomplete, name="account_autocomplete"),
    path("contacts/autocomplete/", customers.contact_autocomplete, name="contact_autocomplete"),
    path("people/autocomplete/", customers.user_autocomplete, name="user_autocomplete"),
    path("accounts/<int:pk>/", customers.AccountDetailView.as_view(), name="account_detail"),
    path("accounts/<int:pk>/edit/", customers.AccountFormView.as_view(), name="account_edit"),
    path("accounts/<int:pk>/delete/", customers.AccountDeleteView.as_view(), name="account_delete"),
    path("contacts/", customers.ContactListView.as_view(), name="contact_list"),
    path("contacts/new/", customers.ContactFormView.as_view(), name="contact_create"),
    path("contacts/<int:pk>/", customers.ContactDetailView.as_view(), name="contact_detail"),
    path("contacts/<int:pk>/edit/", customers.ContactFormView.as_view(), name="contact_edit"),
    path("contacts/<int:pk>/delete/", customers.ContactDeleteView.as_view(), name="contact_delete"),
    path("tasks/", timeline.TaskListView.as_view(), name="task_list"),
    path("tasks/<int:pk>/edit/", timeline.task_edit, name="task_edit"),
    path("tasks/<int:pk>/toggle/", timeline.task_toggle, name="task_toggle"),
    path(
        "timeline/<str:label>/<int:pk>/activities/",
        timeline.activity_create,
        name="activity_create",
    ),
    path("timeline/<str:label>/<int:pk>/tasks/", timeline.task_create_view, name="task_create"),
    path("timeline/<str:label>/<int:pk>/more/", timeline.timeline_more, name="timeline_more"),
    path("segments/", segments.SegmentListView.as_view(), name="segment_list"),
    path("segments/new/", segments.segment_builder, name="segment_create"),
    path("segments/<int:pk>/", segments.segment_builder, name="segment_edit"),
    path("segments/<int:pk>/export.csv", segments.segment_export, name="segment_export"),
    path("segments/<int:pk>/delete/", segments.SegmentDeleteView.as_view(), name="segment_delete"),
    path("segments/count/", segments.segment_count_view, name="segment_count"),
    path("segments/preview/", segments.segment_preview_view, name="segment_preview"),
    path(
        "segments/builder/condition/", segments.builder_condition, name="segment_builder_condition"
    ),
    path("segments/builder/group/", segments.builder_group, name="segment_builder_group"),
    path("segments/builder/tree/", segments.builder_tree, name="segment_builder_tree"),
    path("imports/<slug:kind>/", tabular.tabular_import_start, name="tabular_import_start"),
    path("imports/jobs/<int:pk>/", tabular.tabular_import_detail, name="tabular_import_detail"),
    path(
        "imports/jobs/<int:pk>/progress/",
        tabular.tabular_import_progress,
        name="tabular_import_progress",
    ),
    path(
        "imports/jobs/<int:pk>/resume/", tabular.tabular_import_resume, name="tabular_import_resume"
    ),
    path(
        "imports/jobs/<int:pk>/errors.csv",
        tabular.tabular_import_errors,
        name="tabular_import_errors",
    ),
    path("operations/work/", work.work_problems, name="work_problems"),
    path("operations/work/<str:kind>/<int:pk>/retry/", work.work_retry, name="work_retry"),
    path("admin/", admin.site.urls),
    path("", include("crm.stage_urls")),
]

handler500 = "crm.views.errors.server_error"
