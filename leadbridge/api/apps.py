from django.apps import AppConfig


class ApiToolkitConfig(AppConfig):
    name = "leadbridge.api"
    label = "apikit"
    verbose_name = "API toolkit"

    def ready(self):
        # OpenAPI extensions register themselves on import.
        from . import schema  # noqa: F401
