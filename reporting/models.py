from django.db import models
from django.db.models import Q

from leads.models import Stage

# --- Dashboard rollup (reporting/rollup.py) ----------------------------------
# The manager dashboard reads these instead of the million-row lead table. The
# refresh beat task rebuilds the days whose leads changed (a trigger on
# leads_lead records them in DashboardDirty, whatever wrote the row) and the
# "now" snapshots (overdue, ageing) as a whole. Keys are plain integers, not
# foreign keys: a figure about a deleted rep is still a figure, and the rollup
# must never block deleting one.
#
# The tables were created by followups' migrations and keep their names
# (Meta.db_table): moving the models here moved no data, and the triggers of
# followups/migrations/0009 and 0011 still write to followups_dashboarddirty.


class DashboardCell(models.Model):
    """Lead counts per local day of receipt and (team, rep, campaign, channel).

    The n_* columns are exactly followups.figures.lead_aggregates() and STAGE_AGGREGATES:
    each figure keeps its one definition (followups.figures.METRIC_FILTERS), the rollup only
    stores its counts. (A new lead stage needs a migration here; makemigrations says so.)
    """

    day = models.DateField()
    team_id = models.IntegerField(null=True)
    owner_id = models.IntegerField(null=True)
    campaign_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=20)
    n_leads = models.PositiveIntegerField(default=0)
    n_material_requested = models.PositiveIntegerField(default=0)
    n_material_on_time = models.PositiveIntegerField(default=0)
    n_contacted = models.PositiveIntegerField(default=0)
    n_reached = models.PositiveIntegerField(default=0)
    n_never_contacted = models.PositiveIntegerField(default=0)
    n_decided = models.PositiveIntegerField(default=0)
    n_accepted = models.PositiveIntegerField(default=0)
    n_rejected = models.PositiveIntegerField(default=0)
    n_material_sent_late = models.PositiveIntegerField(default=0)
    n_material_unsent = models.PositiveIntegerField(default=0)
    n_material_sent_after_3w = models.PositiveIntegerField(default=0)
    for _stage in Stage:
        locals()[f"n_stage_{_stage}"] = models.PositiveIntegerField(default=0)
    del _stage

    class Meta:
        db_table = "followups_dashboardcell"
        # Every dashboard read is a range of days (the period), then scope filters.
        indexes = [models.Index(fields=["day"], name="dashboard_cell_day")]

    def __str__(self) -> str:
        return f"cell {self.day} team={self.team_id} rep={self.owner_id}"


class DashboardMinutes(models.Model):
    """The business minutes of one duration (a key of metrics.DURATIONS) of a cell's leads.

    `values` holds all of them, sorted, packed as little-endian int32: exact
    percentiles need every value, and packed they are read in one row per cell
    instead of one per lead (rollup._durations selects the ranks with numpy).
    """

    day = models.DateField()
    team_id = models.IntegerField(null=True)
    owner_id = models.IntegerField(null=True)
    campaign_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=20)
    field = models.CharField(max_length=30)
    values = models.BinaryField()

    class Meta:
        db_table = "followups_dashboardminutes"
        indexes = [models.Index(fields=["day"], name="dashboard_minutes_day")]

    def __str__(self) -> str:
        return f"{self.field} minutes {self.day} team={self.team_id} rep={self.owner_id}"


class DashboardOverdue(models.Model):
    """Snapshot at DashboardRollupState.refreshed_at: what depends on the clock (NowCounts).

    Leads whose material is overdue and unsent, their open follow-ups past the deadline,
    and leads whose material was asked for more than 3 weeks ago and is still not sent.
    """

    day = models.DateField()
    team_id = models.IntegerField(null=True)
    owner_id = models.IntegerField(null=True)
    campaign_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=20)
    # Database defaults: the refresh inserts the follow-up counts and the lead
    # counts as separate rows (INSERT … SELECT), each naming only its own columns.
    n_material_overdue = models.PositiveIntegerField(default=0, db_default=0)
    n_tasks_overdue = models.PositiveIntegerField(default=0, db_default=0)
    n_material_unsent_3w = models.PositiveIntegerField(default=0, db_default=0)

    class Meta:
        db_table = "followups_dashboardoverdue"

    def __str__(self) -> str:
        return f"overdue {self.day} team={self.team_id} rep={self.owner_id}"


class DashboardAgeing(models.Model):
    """Snapshot at DashboardRollupState.refreshed_at: open follow-ups per metrics.AGEING_BUCKETS index."""

    team_id = models.IntegerField(null=True)
    owner_id = models.IntegerField(null=True)
    campaign_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=20)
    bucket = models.PositiveSmallIntegerField()
    n = models.PositiveIntegerField()

    class Meta:
        db_table = "followups_dashboardageing"

    def __str__(self) -> str:
        return f"ageing bucket {self.bucket} team={self.team_id} rep={self.owner_id}"


class DashboardRollupState(models.Model):
    """The one row saying how fresh the rollup is; also the refresh's lock (select_for_update)."""

    refreshed_at = models.DateTimeField(null=True)  # the `now` of the snapshots the dashboard shows
    rebuilt_at = models.DateTimeField(null=True)  # last full rebuild

    class Meta:
        db_table = "followups_dashboardrollupstate"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="dashboard_rollup_state_singleton")
        ]

    def __str__(self) -> str:
        return f"rollup as of {self.refreshed_at}"


class DashboardDirty(models.Model):
    """Receipt times of leads written since the last refresh (filled by a database trigger).

    A trigger rather than a hook in the services: leads are written by intake,
    imports, the sweep's reassignment and plain queryset updates, and a day the
    rollup misses would be wrong silently. Old and new received_at are both
    recorded, so moving or deleting a lead marks the day it left. (PostgreSQL
    records them cut to the quarter hour: only their local day matters.)
    """

    id = models.BigAutoField(primary_key=True)
    received_at = models.DateTimeField()

    class Meta:
        db_table = "followups_dashboarddirty"

    def __str__(self) -> str:
        return f"dirty {self.received_at}"
