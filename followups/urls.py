from django.urls import path

from . import views

app_name = "followups"
urlpatterns = [
    path("queue/", views.queue, name="queue"),
    path("queue/leads/<int:pk>/tasks/", views.lead_tasks, name="lead_tasks"),
    path("followups/<int:pk>/dispatch/", views.dispatch, name="dispatch"),
    path("followups/<int:pk>/call/", views.call, name="call"),
    path("followups/<int:pk>/complete/", views.complete, name="complete"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("notifications/bell/", views.bell, name="bell"),
]
