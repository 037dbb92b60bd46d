"""One JSON shape for every 4xx the API answers, with a message per field.

    {"status": 400, "code": "invalid", "detail": "Invalid input.",
     "errors": {"email": "Enter a valid email address.", "leads.3.phone": "…"}}

`errors` maps a field (dotted path into the body, list items by index) to its
message; it is empty when the error concerns the request as a whole.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


def flatten(detail, prefix: str = "") -> dict[str, str]:
    """DRF's nested error detail → {"field.sub.0": "message"}."""
    if isinstance(detail, dict):
        result = {}
        for key, value in detail.items():
            result.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return result
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            messages = [str(item) for item in detail if str(item)]
            return {prefix or "non_field_errors": " ".join(messages)} if messages else {}
        result = {}
        for index, item in enumerate(detail):
            result.update(flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return result
    return {prefix or "non_field_errors": str(detail)}


def error_body(*, status_code: int, code: str, detail: str, errors: dict | None = None) -> dict:
    return {"status": status_code, "code": code, "detail": detail, "errors": errors or {}}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        from .parsers import BodyTooLarge

        exc = BodyTooLarge()
    elif isinstance(exc, SuspiciousOperation):  # e.g. too many query parameters
        exc = exceptions.ValidationError({"non_field_errors": str(exc)})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten(exc.detail)
        detail = str(exceptions.ValidationError.default_detail)
        code = "invalid"
    else:
        errors = getattr(exc, "field_errors", None) or {}
        detail = (
            str(exc.detail) if not isinstance(exc.detail, dict | list) else str(exc.default_detail)
        )
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else getattr(exc, "default_code", "error")
    response.data = error_body(
        status_code=response.status_code, code=code, detail=detail, errors=errors
    )
    return response


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "Conflict."


class FieldsForbidden(exceptions.PermissionDenied):
    """403 naming the fields this user may not set (field-level rules)."""

    def __init__(self, field_errors: dict[str, str]):
        super().__init__(_("You may not set some of these fields."))
        self.field_errors = {key: str(value) for key, value in field_errors.items()}


@csrf_exempt  # a JSON 404 for any method; there is nothing to forge here
def not_found(request, *args, **kwargs):
    """Unknown URLs under /api/v1/ answer JSON, not the HTML 404 page."""
    return JsonResponse(
        error_body(
            status_code=404, code="not_found", detail=str(exceptions.NotFound.default_detail)
        ),
        status=404,
    )
