"""Change capture for the dashboard rollup (followups/rollup.py).

A trigger on leads_lead records the old and new received_at of every inserted,
updated or deleted lead in followups_dashboarddirty; the refresh task
recomputes those local days. A trigger and not a hook in the services because
leads are written from many places (intake, imports, reassignment, plain
queryset updates) and a missed write would make a figure silently wrong.

Also an index on leads_lead(received_at): the refresh reads whole days of
leads, whatever their team or campaign (the existing indexes lead with those).
"""

from django.db import migrations

# Statement-level triggers with transition tables: a bulk import of 10,000 leads
# is one trigger call. Receipt times are cut to the quarter hour (the refresh
# needs only their local day, and every time zone's offset is whole quarters),
# so a bulk insert of a million leads over 90 days records 8,640 rows, not a million.
QUARTER = "date_bin('15 minutes', received_at, TIMESTAMPTZ '2000-01-01 00:00+00')"
POSTGRES = [
    """CREATE FUNCTION followups_dashboard_dirty_rows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO followups_dashboarddirty (received_at) SELECT DISTINCT {QUARTER} FROM changed_rows;
        RETURN NULL;
    END $$""".replace("{QUARTER}", QUARTER),
    """CREATE FUNCTION followups_dashboard_dirty_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO followups_dashboarddirty (received_at)
        SELECT {QUARTER} FROM old_rows UNION SELECT {QUARTER} FROM new_rows;
        RETURN NULL;
    END $$""".replace("{QUARTER}", QUARTER),
    """CREATE TRIGGER followups_dashboard_dirty_insert AFTER INSERT ON leads_lead
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION followups_dashboard_dirty_rows()""",
    """CREATE TRIGGER followups_dashboard_dirty_delete AFTER DELETE ON leads_lead
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION followups_dashboard_dirty_rows()""",
    """CREATE TRIGGER followups_dashboard_dirty_update AFTER UPDATE ON leads_lead
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION followups_dashboard_dirty_updated()""",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS followups_dashboard_dirty_insert ON leads_lead",
    "DROP TRIGGER IF EXISTS followups_dashboard_dirty_delete ON leads_lead",
    "DROP TRIGGER IF EXISTS followups_dashboard_dirty_update ON leads_lead",
    "DROP FUNCTION IF EXISTS followups_dashboard_dirty_rows()",
    "DROP FUNCTION IF EXISTS followups_dashboard_dirty_updated()",
]
SQLITE = [
    """CREATE TRIGGER followups_dashboard_dirty_insert AFTER INSERT ON leads_lead BEGIN
        INSERT INTO followups_dashboarddirty (received_at) VALUES (NEW.received_at); END""",
    """CREATE TRIGGER followups_dashboard_dirty_delete AFTER DELETE ON leads_lead BEGIN
        INSERT INTO followups_dashboarddirty (received_at) VALUES (OLD.received_at); END""",
    """CREATE TRIGGER followups_dashboard_dirty_update AFTER UPDATE ON leads_lead BEGIN
        INSERT INTO followups_dashboarddirty (received_at) VALUES (OLD.received_at);
        INSERT INTO followups_dashboarddirty (received_at) SELECT NEW.received_at
            WHERE NEW.received_at IS NOT OLD.received_at; END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS followups_dashboard_dirty_insert",
    "DROP TRIGGER IF EXISTS followups_dashboard_dirty_delete",
    "DROP TRIGGER IF EXISTS followups_dashboard_dirty_update",
]
INDEX = "CREATE INDEX followups_rollup_lead_received ON leads_lead (received_at)"
INDEX_REVERSE = "DROP INDEX IF EXISTS followups_rollup_lead_received"


def _run(schema_editor, statements: list[str]) -> None:
    # A plain cursor: schema_editor.execute() would read the % of no statement here as a placeholder.
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def create(apps, schema_editor):
    # PostgreSQL or SQLite: the only databases settings accept (leadbridge/env.py).
    vendor = schema_editor.connection.vendor
    _run(schema_editor, [*(POSTGRES if vendor == "postgresql" else SQLITE), INDEX])


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    _run(schema_editor, [*(POSTGRES_REVERSE if vendor == "postgresql" else SQLITE_REVERSE), INDEX_REVERSE])


class Migration(migrations.Migration):
    dependencies = [
        ("followups", "0008_dashboard_rollup"),
        ("leads", "0002_handoff_milestones"),
    ]

    operations = [migrations.RunPython(create, drop)]
