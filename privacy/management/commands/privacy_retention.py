from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from privacy import services


class Command(BaseCommand):
    help = "Anonymise what is past its retention period; --dry-run lists what would go."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List, change nothing.")
        parser.add_argument("--now", help="Pretend it is this moment (ISO 8601 with offset).")

    def handle(self, *args, dry_run=False, now=None, **options):
        moment = parse_datetime(now) if now else timezone.now()
        if moment is None or timezone.is_naive(moment):
            self.stderr.write("--now needs an ISO 8601 moment with its offset")
            raise SystemExit(2)
        if not dry_run:
            self.stdout.write(str(services.retention_apply(now=moment)))
            return
        leads = services.retention_leads_due(now=moment)
        for lead in leads.values("pk", "team_id", "stage", "last_activity").iterator():
            self.stdout.write(
                f"lead {lead['pk']}: team {lead['team_id']}, {lead['stage']}, "
                f"last activity {lead['last_activity']:%Y-%m-%d}"
            )
        for job in services.retention_files_due(now=moment).values("pk", "finished_at"):
            self.stdout.write(
                f"import file of job {job['pk']}: finished {job['finished_at']:%Y-%m-%d}"
            )
        payloads = services.retention_payloads_due(now=moment).count()
        self.stdout.write(
            f"would anonymise {leads.count()} lead(s), delete "
            f"{services.retention_files_due(now=moment).count()} import file(s), "
            f"drop {payloads} webhook body(ies)"
        )
