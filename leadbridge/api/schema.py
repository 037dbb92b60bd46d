"""OpenAPI post-processing: every operation documents the error answers it can give.

All error bodies share one schema (leadbridge.api.errors), so they are added here
once instead of on each view.
"""

import functools
import re

from django.utils import translation
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from rest_framework import serializers

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "Every error answer, as RFC 9457 problem details "
    "(`application/problem+json`). `type` identifies the problem (GET it for a "
    "description), `title` is fixed per type, `detail` explains this occurrence, "
    "`instance` is the request's path. `errors` has one entry per problem: `field` is a "
    "dotted path into the body (list items by index, e.g. `leads.3.email`), a query "
    "parameter or a header, or null for the request as a whole.",
    "properties": {
        "type": {
            "type": "string",
            "format": "uri-reference",
            "example": "/api/v1/problems/invalid",
        },
        "title": {"type": "string", "description": "A sentence for people, per type."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "A sentence for people, this time."},
        "instance": {"type": "string", "format": "uri-reference"},
        "code": {"type": "string", "description": "Machine-readable: the last part of `type`."},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ProblemItem"}},
    },
    "required": ["type", "title", "status", "detail", "instance", "code", "errors"],
}
PROBLEM_ITEM_SCHEMA = {
    "type": "object",
    "properties": {
        "field": {"type": "string", "nullable": True},
        "code": {"type": "string", "description": "Machine-readable, e.g. required, invalid."},
        "message": {"type": "string", "description": "A sentence for people."},
    },
    "required": ["field", "code", "message"],
}

_DESCRIPTIONS = {
    "400": "Invalid input: see `errors` for each field, query parameter or header.",
    "401": "No credentials, or an unknown or revoked token.",
    "403": "Authenticated, but not allowed: the token lacks the scope, the role may not "
    "do this, or `errors` names fields this user may not set.",
    "404": "No such object, or one this user may not see (another team's), or an invalid cursor.",
    "405": "This method is not allowed here.",
    "406": "Only application/json answers are available.",
    "409": "The state changed meanwhile (someone was faster), or a request with the same "
    "Idempotency-Key is still in progress.",
    "412": "If-Match names another version: read the resource again and redo the change.",
    "413": "The body is too large.",
    "414": "The URL is too long; answered by the web server in front of the app, not as JSON.",
    "415": "Send the body as application/json.",
    "422": "The Idempotency-Key was used before for a different request.",
    "429": "Too many requests for this token: wait as long as the Retry-After header says.",
    "503": "PostgreSQL or Redis is briefly unreachable: try again after Retry-After seconds.",
}

_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
PROBLEM_TYPE = "application/problem+json"


def document_errors(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["ProblemItem"] = PROBLEM_ITEM_SCHEMA
    ref = {"$ref": "#/components/schemas/Problem"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            codes = ["400", "401", "403", "404", "405", "406", "414", "429", "503"]
            if method in {"post", "put", "patch"}:
                codes += ["409", "413", "415"]
            headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            if "If-Match" in headers:
                codes.append("412")
            if "Idempotency-Key" in headers:
                codes.append("422")
            responses = operation.setdefault("responses", {})
            for code in codes:
                if code in responses:
                    continue
                response = {
                    "description": _DESCRIPTIONS[code],
                    "content": {PROBLEM_TYPE: {"schema": ref}},
                }
                if code == "414":  # gunicorn's own answer (limit_request_line)
                    response["content"] = {"text/html": {"schema": {"type": "string"}}}
                if code in {"429", "503"}:
                    response["headers"] = _RETRY_AFTER
                responses[code] = response
    add_links(result)
    for component in schemas.values():
        for prop in component.get("properties", {}).values():
            _decimal_needs_a_digit(prop)
    return result


_DECIMAL = re.compile(r"^\^-\?\\d\{0,(\d+)\}\(\?:\\\.\\d\{0,(\d+)\}\)\?\$$")


def _decimal_needs_a_digit(prop: dict) -> None:
    """drf-spectacular's decimal pattern also matches "", "." and "-", which DRF refuses."""
    match = prop.get("format") == "decimal" and _DECIMAL.match(prop.get("pattern", ""))
    if match:
        whole, places = match.groups()
        prop["pattern"] = rf"^-?(?:\d{{1,{whole}}}(?:\.\d{{0,{places}}})?|\.\d{{1,{places}}})$"


def add_links(result) -> None:
    """OpenAPI links from a collection to its items: what a client (and schemathesis's
    stateful phase) does next. A 201 of POST /x/ leads to every operation on /x/{id}/
    and /x/{id}/<action>/ with the new id; a 200 of GET /x/ with the first listed id."""
    paths = result.get("paths", {})
    for collection, item in paths.items():
        if "{" in collection:
            continue
        targets = [
            (path, method, operation)
            for path, path_item in paths.items()
            if path.startswith(f"{collection}{{id}}/")
            for method, operation in path_item.items()
            if isinstance(operation, dict) and "operationId" in operation
        ]
        sources = [
            ("post", "201", "$response.body#/id"),
            ("get", "200", "$response.body#/results/0/id"),
        ]
        for method, code, expression in sources:
            response = item.get(method, {}).get("responses", {}).get(code)
            if response is None or not targets:
                continue
            if code == "201" and "get" in paths.get(f"{collection}{{id}}/", {}):
                # CreatedLocationMiddleware
                response.setdefault("headers", {}).setdefault(
                    "Location",
                    {
                        "schema": {"type": "string", "format": "uri-reference"},
                        "required": True,
                        "description": "The new resource's URL.",
                    },
                )
            response["links"] = {
                operation["operationId"]: {
                    "operationId": operation["operationId"],
                    "parameters": {"id": expression},
                }
                for path, _method, operation in targets
            }


class BlankableFormatExtension(OpenApiSerializerFieldExtension):
    """An email, URL or regex field that may be empty: format "email"/"uri" or the
    pattern alone would forbid "".

    Read-only fields may always come back empty (the model column allows blank);
    writable ones when they allow_blank.
    """

    target_class = "rest_framework.fields.CharField"
    match_subclasses = True
    priority = 1

    @classmethod
    def _matches(cls, target) -> bool:
        return isinstance(
            target, serializers.EmailField | serializers.URLField | serializers.RegexField
        ) and (target.read_only or target.allow_blank)

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        formatted = {
            key: value
            for key, value in schema.items()
            if key not in {"readOnly", "title", "description", "default"}
        }
        blankable = {"anyOf": [formatted, {"type": "string", "maxLength": 0}]}
        # The default ("") belongs beside anyOf: inside the formatted branch it would not
        # be a valid email or match the pattern (openapi-spec-validator checks defaults
        # against their schema).
        for key in ("readOnly", "title", "description", "default"):
            if key in schema:
                blankable[key] = schema[key]
        return blankable


class StrictRequestBodyExtension(OpenApiSerializerExtension):
    """Request bodies of strict serializers say what the server does: no other properties.

    (leadbridge.api.fields.StrictFieldsMixin answers 400 "Unknown field." for any key
    it does not declare.) A serializer whose validate() needs at least one of some
    optional fields names them in `requires_one_of`: the body schema says so as anyOf.
    """

    target_class = "leadbridge.api.fields.StrictFieldsMixin"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
            one_of = getattr(self.target, "requires_one_of", ())
            if one_of:
                schema["anyOf"] = [{"required": [name]} for name in one_of]
        return schema


# --- the query parameters each operation accepts, from the schema ------------------------


@functools.cache
def query_parameters() -> tuple[dict, list, set]:
    """({(path, method): names}, [(path regex, path)], {literal paths}) from the schema.

    Built once per process from the same generator as /api/v1/schema/, so the server
    accepts exactly the parameters the schema lists (leadbridge.api.filters).
    """
    from drf_spectacular.generators import SchemaGenerator  # imports DRF's views: not at load

    with translation.override("en"):
        schema = SchemaGenerator().get_schema(request=None, public=True)
    accepted = {}
    templates = []
    literal = set()
    for path, item in schema["paths"].items():
        shared = [p["name"] for p in item.get("parameters", []) if p["in"] == "query"]
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            names = shared + [
                p["name"] for p in operation.get("parameters", []) if p["in"] == "query"
            ]
            accepted[(path, method.upper())] = frozenset(names)
        if "{" in path:
            # Every path parameter of this API is an id (lookup_value_regex \d+).
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[0-9]+", re.escape(path))
            templates.append((re.compile(f"^{pattern}$"), path))
        else:
            literal.add(path)
    return accepted, templates, literal


def operation_query_parameters(path: str, method: str) -> frozenset | None:
    """The query parameters of the operation at this path, or None if the schema has none."""
    accepted, templates, literal = query_parameters()
    if path in literal:
        return accepted.get((path, method))
    for pattern, template in templates:
        if pattern.match(path):
            found = accepted.get((template, method))
            if found is not None:
                return found
    return None


class CreatedLocationMiddleware:
    """A 201 from POST /x/ names the new resource in Location: /x/<id>/, where the schema
    has GET /x/{id}/ (views that know better, e.g. lead intake, set it themselves)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 201
            and request.method == "POST"
            and request.path_info.startswith("/api/")
            and "Location" not in response
        ):
            data = getattr(response, "data", None)
            pk = data.get("id") if isinstance(data, dict) else None
            accepted, _templates, _literal = query_parameters()
            if isinstance(pk, int) and (f"{request.path_info}{{id}}/", "GET") in accepted:
                response["Location"] = f"{request.path_info}{pk}/"
        return response
