"""The dashboard's models move to the reporting app (reporting/migrations/0001): state only.

Nothing happens to the database: the tables, their rows and the rollup
triggers of 0009 and 0011 stay; reporting's models name these tables.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("followups", "0014_notification_campaign_signoff"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="DashboardAgeing"),
                migrations.DeleteModel(name="DashboardDirty"),
                migrations.DeleteModel(name="DashboardOverdue"),
                migrations.DeleteModel(name="DashboardCell"),
                migrations.DeleteModel(name="DashboardMinutes"),
                migrations.DeleteModel(name="DashboardRollupState"),
            ],
            database_operations=[],
        ),
    ]
