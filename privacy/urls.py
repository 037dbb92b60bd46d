from django.urls import path

from . import views

app_name = "privacy"
urlpatterns = [
    path("", views.privacy_search, name="search"),
    path("export/", views.privacy_export, name="export"),
    path("erase/", views.privacy_erase, name="erase"),
]
