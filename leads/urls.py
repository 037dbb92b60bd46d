from django.urls import path

from . import views

app_name = "leads"
urlpatterns = [
    path("<int:pk>/", views.lead_detail, name="detail"),
    path("<int:pk>/decide/", views.decide, name="decide"),
    path("<int:pk>/qualify/", views.qualify, name="qualify"),
    path("<int:pk>/move/", views.move, name="move"),
    path("<int:pk>/note/", views.note, name="note"),
    path("reassign/", views.reassign, name="reassign"),
]
