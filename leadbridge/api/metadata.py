"""What OPTIONS answers on the API."""

from django.urls import reverse
from rest_framework.metadata import BaseMetadata


class AllowedMethods(BaseMetadata):
    """OPTIONS answers 200: the Allow header (on every answer) lists the methods, the
    schema describes them. (DRF's SimpleMetadata would describe the serializers again,
    differently from the schema.)"""

    def determine_metadata(self, request, view):
        return {"name": view.get_view_name(), "schema": reverse("api:schema")}
