"""JSON column values serialised once, for the bulk writers (COPY) on any database.

The import (leads/imports.py) and the API's bulk intake (integrations/intake.py)
write hundreds of thousands of timeline rows whose payloads repeat: each
distinct payload is serialised once as a JsonText, COPY writes the text as it is,
and where the ORM writes instead (SQLite) it gets the value back with `.value`.
"""

from __future__ import annotations

import json
from typing import Any

_UNREAD = object()


class JsonText(str):
    """A JSON column's value serialised already (what Django's JSONField would store)."""

    __slots__ = ("_value",)

    def __new__(cls, value: Any) -> JsonText:
        text = super().__new__(cls, json.dumps(value))
        text._value = value
        return text

    @classmethod
    def written(cls, text: str) -> JsonText:
        """JSON text put together by the caller (it must be what json.dumps would give)."""
        made = super().__new__(cls, text)
        made._value = _UNREAD
        return made

    @property
    def value(self) -> Any:
        if self._value is _UNREAD:
            self._value = json.loads(self)
        return self._value


def for_copy(value: Any) -> Any:
    """A JSON column's value as COPY takes it: text (None stays NULL)."""
    if value is None or type(value) is JsonText:
        return value
    return json.dumps(value)


def for_orm(value: Any) -> Any:
    """A column's value as the ORM takes it: a JsonText as the value it stands for."""
    return value.value if type(value) is JsonText else value
