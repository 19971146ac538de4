from django.urls import path

from bare import views

urlpatterns = [
    path("login/", views.sign_in),
    path("", views.home),
    path("home-blocks/", views.home_blocks),
    path("contacts/", views.contact_list),
    path("contacts/<int:pk>/", views.contact_detail),
    path("accounts/<int:pk>/", views.account_detail),
    path("leads/", views.lead_list),
    path("opportunities/", views.opportunity_list),
    path("opportunities/board/", views.board),
    path("tickets/", views.ticket_list),
]
