"""The dashboard's models move here from followups: state only, the tables stay.

The tables keep their names (Meta.db_table) and their rows; the triggers and
the function followups/migrations/0009 and 0011 created on leads_lead keep
writing to followups_dashboarddirty. The content types (and so the
permissions) follow the models.
"""

from django.db import migrations, models

MODELS = ['DashboardAgeing', 'DashboardDirty', 'DashboardOverdue', 'DashboardCell', 'DashboardMinutes', 'DashboardRollupState']


def content_types_follow(apps, schema_editor, old="followups", new="reporting"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label=old, model__in=[m.lower() for m in MODELS]).update(
        app_label=new
    )


def content_types_back(apps, schema_editor):
    content_types_follow(apps, schema_editor, old="reporting", new="followups")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("followups", "0015_dashboard_models_to_reporting"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='DashboardAgeing',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('team_id', models.IntegerField(null=True)),
                    ('owner_id', models.IntegerField(null=True)),
                    ('campaign_id', models.IntegerField(null=True)),
                    ('channel', models.CharField(max_length=20)),
                    ('bucket', models.PositiveSmallIntegerField()),
                    ('n', models.PositiveIntegerField()),
                ],
                options={'db_table': 'followups_dashboardageing'},
            ),
            migrations.CreateModel(
                name='DashboardDirty',
                fields=[
                    ('id', models.BigAutoField(primary_key=True, serialize=False)),
                    ('received_at', models.DateTimeField()),
                ],
                options={'db_table': 'followups_dashboarddirty'},
            ),
            migrations.CreateModel(
                name='DashboardOverdue',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('day', models.DateField()),
                    ('team_id', models.IntegerField(null=True)),
                    ('owner_id', models.IntegerField(null=True)),
                    ('campaign_id', models.IntegerField(null=True)),
                    ('channel', models.CharField(max_length=20)),
                    ('n_material_overdue', models.PositiveIntegerField(default=0)),
                    ('n_any_overdue', models.PositiveIntegerField(default=0)),
                ],
                options={'db_table': 'followups_dashboardoverdue'},
            ),
            migrations.CreateModel(
                name='DashboardCell',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('day', models.DateField()),
                    ('team_id', models.IntegerField(null=True)),
                    ('owner_id', models.IntegerField(null=True)),
                    ('campaign_id', models.IntegerField(null=True)),
                    ('channel', models.CharField(max_length=20)),
                    ('n_leads', models.PositiveIntegerField(default=0)),
                    ('n_material_requested', models.PositiveIntegerField(default=0)),
                    ('n_material_on_time', models.PositiveIntegerField(default=0)),
                    ('n_contacted', models.PositiveIntegerField(default=0)),
                    ('n_reached', models.PositiveIntegerField(default=0)),
                    ('n_never_contacted', models.PositiveIntegerField(default=0)),
                    ('n_decided', models.PositiveIntegerField(default=0)),
                    ('n_accepted', models.PositiveIntegerField(default=0)),
                    ('n_rejected', models.PositiveIntegerField(default=0)),
                    ('n_material_sent_late', models.PositiveIntegerField(default=0)),
                    ('n_material_unsent', models.PositiveIntegerField(default=0)),
                    ('n_stage_lead', models.PositiveIntegerField(default=0)),
                    ('n_stage_prospect', models.PositiveIntegerField(default=0)),
                    ('n_stage_presales', models.PositiveIntegerField(default=0)),
                    ('n_stage_sale', models.PositiveIntegerField(default=0)),
                    ('n_stage_aftersales', models.PositiveIntegerField(default=0)),
                    ('n_stage_rejected', models.PositiveIntegerField(default=0)),
                    ('n_stage_disqualified', models.PositiveIntegerField(default=0)),
                    ('n_stage_unreachable', models.PositiveIntegerField(default=0)),
                    ('n_stage_lost', models.PositiveIntegerField(default=0)),
                ],
                options={
                    'db_table': 'followups_dashboardcell',
                    'indexes': [models.Index(fields=['day'], name='dashboard_cell_day')],
                },
            ),
            migrations.CreateModel(
                name='DashboardMinutes',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('day', models.DateField()),
                    ('team_id', models.IntegerField(null=True)),
                    ('owner_id', models.IntegerField(null=True)),
                    ('campaign_id', models.IntegerField(null=True)),
                    ('channel', models.CharField(max_length=20)),
                    ('field', models.CharField(max_length=30)),
                    ('values', models.BinaryField()),
                ],
                options={
                    'db_table': 'followups_dashboardminutes',
                    'indexes': [models.Index(fields=['day'], name='dashboard_minutes_day')],
                },
            ),
            migrations.CreateModel(
                name='DashboardRollupState',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('refreshed_at', models.DateTimeField(null=True)),
                    ('rebuilt_at', models.DateTimeField(null=True)),
                ],
                options={
                    'db_table': 'followups_dashboardrollupstate',
                    'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='dashboard_rollup_state_singleton')],
                },
            ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_follow, content_types_back),
    ]
