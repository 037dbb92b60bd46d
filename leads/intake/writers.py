"""How the intake pipeline stores new rows: one small interface, two writers.

    writer.insert(objs)  # new instances of one model → rows; each gets its pk

`OrmWriter` is the reference (bulk_create). `CopyWriter` is PostgreSQL's adapter
for big batches: ids drawn from the table's sequence, rows sent with COPY (an
order of magnitude cheaper than INSERT … VALUES for thousands of rows). Both
leave the instances as bulk_create leaves them: pk set, foreign keys taken from
the related objects saved before, auto_now(_add) stamps set, _state saved.
tests/leads/test_intake_writers.py holds them to the same rows.
"""

from __future__ import annotations

import enum
import json
import operator
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from django.db import connection
from django.db.models import JSONField, Model

# Below this many leads a batch goes through the ORM: COPY costs a round trip per
# table more than one INSERT, which only pays off for larger batches.
COPY_FROM = 50


class Writer(Protocol):
    def insert(self, objs: list[Model]) -> None: ...


class OrmWriter:
    """The reference: Django's bulk_create."""

    def insert(self, objs: list[Model]) -> None:
        if objs:
            type(objs[0]).objects.bulk_create(objs, batch_size=2000)


# Values COPY takes as they are (psycopg adapts them).
_PLAIN = {str, int, bool, datetime, date, Decimal}


class CopyWriter:
    """PostgreSQL: ids from the sequence, rows by COPY; otherwise as OrmWriter."""

    def insert(self, objs: list[Model]) -> None:
        if not objs:
            return
        model = type(objs[0])
        meta = model._meta
        fields = meta.concrete_fields
        relations = [f for f in fields if f.is_relation]
        for obj in objs:
            # As bulk_create: a foreign key from the related object saved before.
            for field in relations:
                if getattr(obj, field.attname) is None and field.is_cached(obj):
                    related = field.get_cached_value(obj)
                    if related is not None:
                        setattr(obj, field.attname, related.pk)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, len(objs)],
            )
            for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
                obj.pk = pk
            converters = [_converter(field) for field in fields]
            quote = connection.ops.quote_name
            columns = ", ".join(quote(f.column) for f in fields)
            pre_saved = [
                f
                for f in fields
                if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            ]
            row_of = operator.attrgetter(*(f.attname for f in fields))
            with (
                connection.wrap_database_errors,  # a unique violation is IntegrityError
                cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy,
            ):
                for obj in objs:
                    for field in pre_saved:
                        field.pre_save(obj, add=True)
                    row = row_of(obj)
                    copy.write_row(
                        [
                            value if convert is None else convert(value)
                            for value, convert in zip(row, converters, strict=True)
                        ]
                    )
        for obj in objs:
            obj._state.adding = False
            obj._state.db = connection.alias


def _converter(field):
    """None for a column whose values COPY takes as they are, else the conversion."""
    if isinstance(field, JSONField):
        encoder = field.encoder

        def to_json(value):
            return None if value is None else json.dumps(value, cls=encoder)

        return to_json

    def prepared(value):
        if value is None or type(value) in _PLAIN:
            return value
        if isinstance(value, enum.Enum):  # a choices member: its value
            return value.value
        return field.get_db_prep_save(value, connection)

    return prepared


def writer_for(count: int) -> Writer:
    """The writer for a batch of `count` leads on this database."""
    if connection.vendor == "postgresql" and count >= COPY_FROM:
        return CopyWriter()
    return OrmWriter()
