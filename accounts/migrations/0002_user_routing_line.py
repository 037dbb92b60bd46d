"""An index for routing's line (leads.services.rep_for): a team's reps, longest-waiting
first (never assigned before all others), read in that order until one is under
today's capacity, so that today's leads are counted for that rep only.

By hand, not in User.Meta: the order needs NULLS FIRST, which SQLite's CREATE INDEX
refuses (its ascending order puts NULL first anyway).
"""

from django.db import migrations

ORDER = {
    "postgresql": "team_id, last_assigned_at ASC NULLS FIRST, id",
    "sqlite": "team_id, last_assigned_at ASC, id",
}


def create(apps, schema_editor):
    columns = ORDER[schema_editor.connection.vendor]
    schema_editor.execute(f"CREATE INDEX user_routing_line ON accounts_user ({columns})")


def drop(apps, schema_editor):
    schema_editor.execute("DROP INDEX user_routing_line")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
