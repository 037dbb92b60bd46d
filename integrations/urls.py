from django.urls import path

from . import views

app_name = "integrations"
urlpatterns = [
    path("", views.integration_list, name="list"),
    path("tokens/", views.token_add, name="token_add"),
    path("tokens/<int:pk>/revoke/", views.token_revoke_view, name="token_revoke"),
    path("webhooks/", views.subscription_add, name="subscription_add"),
    path("webhooks/<int:pk>/toggle/", views.subscription_toggle, name="subscription_toggle"),
    path("webhooks/<int:pk>/delete/", views.subscription_delete, name="subscription_delete"),
    path("webhooks/<int:pk>/ping/", views.subscription_ping, name="subscription_ping"),
    path("webhooks/<int:pk>/rotate/", views.subscription_rotate, name="subscription_rotate"),
    path("deliveries/<int:pk>/retry/", views.delivery_retry, name="delivery_retry"),
    path("integration-tokens/", views.integration_token_add, name="integration_token_add"),
    path(
        "integration-tokens/<int:pk>/revoke/",
        views.integration_token_revoke,
        name="integration_token_revoke",
    ),
]
