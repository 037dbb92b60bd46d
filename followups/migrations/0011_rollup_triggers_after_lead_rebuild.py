"""Put the dashboard's change capture back on SQLite after leads/0005.

SQLite cannot drop an index of a foreign key in place: Django rebuilds
leads_lead (new table, copy, drop, rename), and with the old table go the
triggers and the received_at index that 0009 made by raw SQL. Without them the
embedded default's dashboard would stop noticing changed leads. PostgreSQL
altered the table in place and kept both; there this does nothing. Any later
migration that makes SQLite rebuild leads_lead needs the same step after it.
"""

import importlib

from django.db import migrations

rollup_triggers = importlib.import_module("followups.migrations.0009_dashboard_rollup_triggers")


def restore(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    rollup_triggers._run(
        schema_editor,
        [
            *rollup_triggers.SQLITE_REVERSE,
            *rollup_triggers.SQLITE,
            rollup_triggers.INDEX.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS"),
        ],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("followups", "0010_redundant_indexes"),
        ("leads", "0005_redundant_indexes"),
    ]

    operations = [migrations.RunPython(restore, migrations.RunPython.noop)]
