from django.urls import path

from . import views

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("<int:pk>/", views.campaign_detail, name="detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="edit"),
    path("<int:pk>/signoff/", views.campaign_signoff, name="signoff"),
    path("<int:pk>/signoff/request/", views.campaign_signoff_request, name="signoff_request"),
    path("<int:pk>/signoff/return/", views.campaign_signoff_return, name="signoff_return"),
    path("<int:pk>/activate/", views.campaign_activate, name="activate"),
    path("<int:pk>/end/", views.campaign_end, name="end"),
    path("<int:pk>/leads.csv", views.campaign_leads_csv, name="leads_csv"),
    path("<int:pk>/import/", views.import_upload, name="import_upload"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("imports/<int:pk>/progress/", views.import_progress, name="import_progress"),
    path("imports/<int:pk>/report.csv", views.import_report, name="import_report"),
    path("leads/new/", views.lead_manual, name="lead_new"),
    path("nurturing/", views.nurture_list, name="nurture"),
]
