from django.urls import path

from . import views

app_name = "reporting"
urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/leads/", views.dashboard_leads, name="dashboard_leads"),
]
