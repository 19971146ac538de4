from allauth.account import views as account_views
from django.contrib import admin
from django.urls import include, path

from crm.views import (
    assets,
    audit,
    customers,
    health,
    history,
    home,
    me,
    people,
    search,
    segments,
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
    path("history/", history.history_changes, name="history_changes"),
    path("history/<str:label>/<int:pk>/", history.record_history, name="record_history"),
    path("history/<str:label>/<int:pk>/restore/", history.record_restore, name="record_restore"),
    path("operations/work/", work.work_problems, name="work_problems"),
    path("operations/work/<str:kind>/<int:pk>/retry/", work.work_retry, name="work_retry"),
    path("people/", people.PersonListView.as_view(), name="people_list"),
    path("people/invite/", people.person_invite, name="person_invite"),
    path("people/teams/", people.team_index, name="team_index"),
    path("people/teams/<int:pk>/", people.team_edit, name="team_edit"),
    path("people/<int:pk>/", people.person_detail, name="person_detail"),
    path("people/<int:pk>/access/", people.person_access, name="person_access"),
    path("people/<int:pk>/deactivate/", people.person_deactivate, name="person_deactivate"),
    path("people/<int:pk>/reactivate/", people.person_reactivate, name="person_reactivate"),
    path("people/<int:pk>/reset-mfa/", people.person_mfa_reset, name="person_mfa_reset"),
    path("people/<int:pk>/unlock/", people.person_unlock, name="person_unlock"),
    path(
        "people/<int:pk>/invitation/",
        people.person_invitation_resend,
        name="person_invitation_resend",
    ),
    path("audit/", audit.AuditListView.as_view(), name="audit_list"),
    path("audit/export.csv", audit.audit_export, name="audit_export"),
    path("admin/", admin.site.urls),
    path("", include("crm.stage_urls")),
]

handler500 = "crm.views.errors.server_error"
