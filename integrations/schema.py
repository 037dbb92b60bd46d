"""OpenAPI post-processing: every operation documents the error answers it can give.

All 4xx bodies share one schema (integrations.errors), so they are added here
once instead of on each view.
"""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every 4xx answer. `errors` maps a field (dotted path into the request, "
    "list items by index) to its message; it is empty when the error is about the "
    "request as a whole.",
    "properties": {
        "status": {"type": "integer", "description": "The HTTP status, repeated."},
        "code": {"type": "string", "description": "Machine-readable, e.g. invalid, not_found."},
        "detail": {"type": "string", "description": "A sentence for people."},
        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["status", "code", "detail", "errors"],
}

_DESCRIPTIONS = {
    "400": "Invalid input: see `errors` for a message per field.",
    "401": "No credentials, or an unknown or revoked token.",
    "403": "Authenticated, but not allowed: the token lacks the scope, the role may not "
    "do this, or `errors` names fields this user may not set.",
    "404": "No such object, or one this user may not see (another team's), or an invalid cursor.",
    "405": "This method is not allowed here.",
    "406": "Only application/json answers are available.",
    "409": "The state changed meanwhile (someone was faster), or the Idempotency-Key was "
    "used for a different request.",
    "413": "The body is too large.",
    "414": "The URL is too long; answered by the web server in front of the app, not as JSON.",
    "415": "Send the body as application/json.",
    "429": "Too many requests for this token: wait as long as the Retry-After header says.",
}

_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}


def document_errors(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            codes = ["400", "401", "403", "404", "405", "406", "414", "429"]
            if method in {"post", "put", "patch"}:
                codes += ["409", "413", "415"]
            responses = operation.setdefault("responses", {})
            for code in codes:
                if code in responses:
                    continue
                response = {
                    "description": _DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": ref}},
                }
                if code == "414":  # gunicorn's own answer (limit_request_line)
                    response["content"] = {"text/html": {"schema": {"type": "string"}}}
                if code == "429":
                    response["headers"] = _RETRY_AFTER
                responses[code] = response
    return result


class BlankableFormatExtension(OpenApiSerializerFieldExtension):
    """An email or URL field that may be empty: format "email"/"uri" alone would forbid "".

    Read-only fields may always come back empty (the model column allows blank);
    writable ones when they allow_blank.
    """

    target_class = "rest_framework.fields.CharField"
    match_subclasses = True
    priority = 1

    @classmethod
    def _matches(cls, target) -> bool:
        return isinstance(target, serializers.EmailField | serializers.URLField) and (
            target.read_only or target.allow_blank
        )

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        formatted = {
            key: value
            for key, value in schema.items()
            if key not in {"readOnly", "title", "description"}
        }
        blankable = {"anyOf": [formatted, {"type": "string", "maxLength": 0}]}
        for key in ("readOnly", "title", "description"):
            if key in schema:
                blankable[key] = schema[key]
        return blankable
