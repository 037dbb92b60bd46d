"""The rollup counts the headline shares and overdue tasks (docs/OVERDUE.md).

DashboardCell gains the material sent more than 3 weeks after the request;
the overdue snapshot counts open tasks past their deadline instead of leads,
and material still unsent 3 weeks on. Existing cells lack the new count, so
the next refresh rebuilds every day (rebuilt_at cleared).
"""

from django.db import migrations, models


def rebuild_on_next_refresh(apps, schema_editor):
    apps.get_model("reporting", "DashboardRollupState").objects.update(rebuilt_at=None)


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0001_dashboard_models_from_followups"),
    ]

    operations = [
        migrations.AddField(
            model_name="dashboardcell",
            name="n_material_sent_after_3w",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RenameField(
            model_name="dashboardoverdue", old_name="n_any_overdue", new_name="n_tasks_overdue"
        ),
        migrations.AddField(
            model_name="dashboardoverdue",
            name="n_material_unsent_3w",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.AlterField(
            model_name="dashboardoverdue",
            name="n_material_overdue",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.AlterField(
            model_name="dashboardoverdue",
            name="n_tasks_overdue",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.RunPython(rebuild_on_next_refresh, migrations.RunPython.noop),
    ]
