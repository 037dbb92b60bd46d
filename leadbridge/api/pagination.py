from datetime import datetime, timedelta

from django.core import signing
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

# ?with_count=true adds the total: a count(*) over the whole filtered list costs
# ~0.13 s per million rows on PostgreSQL (docs/API.md), too much for every page of a sync loop.
COUNT_PARAM = "with_count"


def _wants_count(request) -> bool:
    raw = request.query_params.get(COUNT_PARAM)
    if raw is None:
        return False
    if raw not in {"true", "false"}:
        raise ValidationError({COUNT_PARAM: _("Give true or false.")})
    return raw == "true"


class Cursor(CursorPagination):
    """Every list: stable pages while rows are added, cheap on any page.

    An invalid cursor answers 404 (DRF); an invalid page_size 400, not a quiet default.
    Each page says `has_more`; `count` (the whole list's) only when asked for.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"

    def paginate_queryset(self, queryset, request, view=None):
        self.count = queryset.count() if _wants_count(request) else None
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        body = {
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
            "has_more": self.has_next,
        }
        if self.count is not None:
            body["count"] = self.count
        return Response({**body, "results": data})

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        answer["required"] = ["next", "previous", "has_more", "results"]
        answer["properties"] = {
            **{key: value for key, value in answer["properties"].items() if key != "results"},
            "has_more": {"type": "boolean", "description": "Whether `next` leads to more."},
            "count": {
                "type": "integer",
                "minimum": 0,
                "description": f"All rows of the list, on every page; only with {COUNT_PARAM}=true.",
            },
            "results": schema,
        }
        return answer

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        # isascii: "²" is a digit to isdigit(), not to int(); int() of 5000 digits is an error too.
        size = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {
                    self.page_size_query_param: _("Give a whole number from 1 to %(max)d.")
                    % {"max": self.max_page_size}
                }
            )
        return size

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                }
        parameters.append(
            {
                "name": COUNT_PARAM,
                "required": False,
                "in": "query",
                "description": "true: add `count`, the number of rows of the whole list "
                "(costs a count over the list on every page).",
                "schema": {"type": "string", "enum": ["true", "false"]},
            }
        )
        return parameters


# How far behind the clock a sync pass stops: a change is stamped (updated_at) with
# a clock read just before its transaction writes, so a stamp may reach the table
# that long after its moment. On PostgreSQL the pass also stops before the start of
# the oldest transaction still open (see settled_until).
SYNC_SETTLE = timedelta(seconds=2)
SYNC_PARAM = "updated_after"


def settled_until(*, now: datetime) -> datetime:
    """The latest updated_at a sync pass may list: no change stamped at or before it can
    still commit (other than through a transaction already older than SYNC_SETTLE, which
    PostgreSQL's pg_stat_activity shows, and the bound stays before)."""
    until = now - SYNC_SETTLE
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Only the role's own sessions show xact_start without pg_read_all_stats:
            # the app's processes share one role.
            cursor.execute(
                "SELECT min(xact_start) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'"
            )
            (oldest,) = cursor.fetchone()
        if oldest is not None:
            until = min(until, oldest - SYNC_SETTLE)
    return until


class SyncCursor(Cursor):
    """With ?updated_after=: changes in (updated_at, id) order, each row at most once a pass.

    The first page fixes the pass's upper bound (settled_until); the signed cursor
    carries it and the last (updated_at, id) listed. A row changed during the pass
    moves past the bound and is left to the next pass, which starts with
    updated_after = the `sync_until` every page of this pass shows.
    Without updated_after the list pages as every other (Cursor).
    """

    salt = "leadbridge.sync-cursor"

    def _syncing(self, request) -> bool:
        return SYNC_PARAM in request.query_params

    def paginate_queryset(self, queryset, request, view=None):
        if not self._syncing(request):
            return super().paginate_queryset(queryset, request, view)
        if request.query_params.get("ordering"):
            raise ValidationError(
                {"ordering": _("A list with updated_after is ordered by updated_at and id.")}
            )
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        raw = request.query_params.get(self.cursor_query_param)
        if raw:
            try:
                state = signing.loads(raw, salt=self.salt)
                position = (parse_datetime(state["u"]), int(state["i"]))
                self.until = parse_datetime(state["c"])
            except (signing.BadSignature, KeyError, TypeError, ValueError):
                raise NotFound(self.invalid_cursor_message) from None
            if None in (position[0], self.until):
                raise NotFound(self.invalid_cursor_message)
        else:
            position = None
            self.until = settled_until(now=timezone.now())
        queryset = queryset.filter(updated_at__lte=self.until)
        self.count = queryset.count() if _wants_count(request) else None
        if position is not None:
            moment, pk = position
            queryset = queryset.filter(Q(updated_at__gt=moment) | Q(updated_at=moment, pk__gt=pk))
        rows = list(queryset.order_by("updated_at", "pk")[: self.page_size + 1])
        self.page = rows[: self.page_size]
        self.has_next = len(rows) > self.page_size
        self.has_previous = False
        return self.page

    def get_next_link(self):
        if not self._syncing(self.request):
            return super().get_next_link()
        if not self.has_next:
            return None
        last = self.page[-1]
        state = {"u": last.updated_at.isoformat(), "i": last.pk, "c": self.until.isoformat()}
        token = signing.dumps(state, salt=self.salt)
        return replace_query_param(self.base_url, self.cursor_query_param, token)

    def get_previous_link(self):
        if not self._syncing(self.request):
            return super().get_previous_link()
        return None

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        if self._syncing(self.request):
            local = timezone.localtime(self.until)
            response.data["sync_until"] = local.isoformat()
        return response

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["sync_until"] = {
            "type": "string",
            "format": "date-time",
            "description": "Only with updated_after: the pass lists changes up to this moment. "
            "When `next` is null, start the next pass with updated_after set to it.",
        }
        return answer
