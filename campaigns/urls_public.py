"""The public enquiry form of a campaign, at /f/<form_key>/: no login."""

from django.urls import path

from . import views

app_name = "webform"
urlpatterns = [
    path("opt-in/<str:token>/", views.opt_in, name="opt_in"),
    path("<str:key>/", views.webform, name="form"),
    path("<str:key>/thanks/", views.webform_thanks, name="thanks"),
    path("<str:key>/embed/", views.webform_embed, name="embed"),
    path("<str:key>/embed/thanks/", views.webform_embed_thanks, name="embed_thanks"),
]
