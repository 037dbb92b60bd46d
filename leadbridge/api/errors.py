"""RFC 9457 problem details for every error the API answers.

    HTTP/1.1 400 Bad Request
    Content-Type: application/problem+json

    {"type": "/api/v1/problems/invalid", "title": "Invalid input.", "status": 400,
     "detail": "Enter a valid email address.", "instance": "/api/v1/leads/",
     "code": "invalid",
     "errors": [{"field": "email", "code": "invalid",
                 "message": "Enter a valid email address."}]}

`type` is a URI reference per problem code (GET it for a description); `title`
is fixed per type, `detail` says what happened this time. `errors` lists one
entry per problem with a field: a dotted path into the body (list items by
index, `leads.3.email`), a query parameter or a header; `field` is null when
the error concerns the request as a whole. Titles and messages follow
Accept-Language (English by default, leadbridge.api.locale).
"""

from http import HTTPStatus

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.encoding import escape_uri_path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "/api/v1/problems/"

# Every problem type the API answers: code → (status, title). DRF's own titles are
# its exceptions' default_detail (translated by DRF's catalogue); the others here.
PROBLEMS = {
    "invalid": (400, exceptions.ValidationError.default_detail),
    "parse_error": (400, exceptions.ParseError.default_detail),
    "not_authenticated": (401, exceptions.NotAuthenticated.default_detail),
    "authentication_failed": (401, exceptions.AuthenticationFailed.default_detail),
    "permission_denied": (403, exceptions.PermissionDenied.default_detail),
    "not_found": (404, exceptions.NotFound.default_detail),
    "method_not_allowed": (405, gettext_lazy("Method not allowed.")),
    "not_acceptable": (406, exceptions.NotAcceptable.default_detail),
    "conflict": (409, gettext_lazy("Conflict.")),
    "precondition_failed": (412, gettext_lazy("The resource changed since you read it.")),
    "too_large": (413, gettext_lazy("The body is too large.")),
    "unsupported_media_type": (415, gettext_lazy("Send the body as application/json.")),
    "idempotency_key_reused": (
        422,
        gettext_lazy("This Idempotency-Key was used for a different request."),
    ),
    "precondition_required": (428, gettext_lazy("Send If-Match with the ETag you read.")),
    "throttled": (429, exceptions.Throttled.default_detail),
    "server_error": (500, gettext_lazy("Something went wrong on our side.")),
    "service_unavailable": (
        503,
        gettext_lazy("The service is briefly unavailable. Please try again shortly."),
    ),
}


def flatten(detail, prefix: str = "") -> dict[str, str]:
    """DRF's nested error detail → {"field.sub.0": "message"} (bulk results' per-item errors).

    The messages stay ErrorDetail (a str) with their code, for a problem's `errors`.
    """
    if isinstance(detail, dict):
        result = {}
        for key, value in detail.items():
            result.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return result
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            messages = [item for item in detail if str(item)]
            if not messages:
                return {}
            code = getattr(messages[0], "code", None) or "invalid"
            joined = " ".join(str(message) for message in messages)
            return {prefix or "non_field_errors": ErrorDetail(joined, code=code)}
        result = {}
        for index, item in enumerate(detail):
            result.update(flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return result
    if not isinstance(detail, ErrorDetail):
        detail = ErrorDetail(str(detail), code="invalid")
    return {prefix or "non_field_errors": detail}


def _field(path: str) -> str | None:
    """A dotted path; DRF's non_field_errors key means "the object itself"."""
    parts = [part for part in path.split(".") if part != api_settings.NON_FIELD_ERRORS_KEY]
    return ".".join(parts) or None


def problem_errors(detail, prefix: str = "", default_code: str = "invalid") -> list[dict]:
    """DRF's nested error detail → [{"field", "code", "message"}], one entry per message."""
    if isinstance(detail, dict):
        result = []
        for key, value in detail.items():
            result += problem_errors(value, f"{prefix}.{key}" if prefix else str(key), default_code)
        return result
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [
                {
                    "field": _field(prefix),
                    "code": getattr(item, "code", None) or default_code,
                    "message": str(item),
                }
                for item in detail
                if str(item)
            ]
        result = []
        for index, item in enumerate(detail):
            result += problem_errors(
                item, f"{prefix}.{index}" if prefix else str(index), default_code
            )
        return result
    return [
        {
            "field": _field(prefix),
            "code": getattr(detail, "code", None) or default_code,
            "message": str(detail),
        }
    ]


def problem_body(
    *, request, status_code: int, code: str, detail: str | None = None, errors: list | None = None
) -> dict:
    title = PROBLEMS.get(code, (None, None))[1] or HTTPStatus(status_code).phrase
    return {
        "type": f"{TYPE_PREFIX}{code}",
        "title": str(title),
        "status": status_code,
        "detail": str(detail) if detail else str(title),
        "instance": escape_uri_path(request.path) if request is not None else "",
        "code": code,
        "errors": errors or [],
    }


def problem_response(
    request, *, status_code: int, code: str, detail: str | None = None, errors=None
) -> JsonResponse:
    """A problem answered outside DRF (URL catch-all, outages, Django's error handlers)."""
    return JsonResponse(
        problem_body(
            request=request, status_code=status_code, code=code, detail=detail, errors=errors
        ),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def _validation_detail(errors: list[dict]) -> str:
    if len(errors) == 1:
        return errors[0]["message"]
    return _("%(count)s problems with this request; see errors.") % {"count": len(errors)}


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
    code = exc.default_code
    if isinstance(exc, exceptions.ValidationError):
        errors = problem_errors(exc.detail)
        detail = _validation_detail(errors) if errors else None
    else:
        errors = getattr(exc, "field_errors", None) or []
        detail = str(exc.detail) if not isinstance(exc.detail, dict | list) else None
    response.data = problem_body(
        request=context["request"],
        status_code=response.status_code,
        code=code,
        detail=detail,
        errors=errors,
    )
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = gettext_lazy("Conflict.")


class IdempotencyKeyReused(exceptions.APIException):
    """IETF draft-ietf-httpapi-idempotency-key-header: a key reused for another body is 422."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = PROBLEMS["idempotency_key_reused"][1]


class FieldsForbidden(exceptions.PermissionDenied):
    """403 naming the fields this user may not set (field-level rules)."""

    def __init__(self, field_errors: dict[str, str]):
        super().__init__(_("You may not set some of these fields."))
        self.field_errors = [
            {"field": key, "code": "not_allowed", "message": str(value)}
            for key, value in field_errors.items()
        ]


@csrf_exempt  # a problem for any method; there is nothing to forge here
def not_found(request, *args, **kwargs):
    """Unknown URLs under /api/v1/ answer a problem, not the HTML 404 page."""
    return problem_response(request, status_code=404, code="not_found")


def problem_type(request, code: str):
    """GET /api/v1/problems/<code>: what a `type` URI stands for."""
    if code not in PROBLEMS or request.method not in {"GET", "HEAD"}:
        return not_found(request)
    status_code, title = PROBLEMS[code]
    return JsonResponse(
        {"type": f"{TYPE_PREFIX}{code}", "title": str(title), "status": status_code}
    )


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception):
    """handler400: a problem under /api/ (e.g. a disallowed Host), Django's page elsewhere."""
    if _is_api(request):
        return problem_response(request, status_code=400, code="invalid")
    return defaults.bad_request(request, exception)


def server_error(request):
    """handler500: a problem under /api/, Django's page elsewhere (DEBUG off only)."""
    if _is_api(request):
        return problem_response(request, status_code=500, code="server_error")
    return defaults.server_error(request)
