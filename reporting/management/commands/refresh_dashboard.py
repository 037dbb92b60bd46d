from django.core.management.base import BaseCommand
from django.utils import timezone

from followups.management.commands.sweep_overdue import parse_now
from reporting.rollup import dashboard_rollup_refresh


class Command(BaseCommand):
    help = "Bring the dashboard rollup up to date now (beat does it every minute); --full rebuilds every day."

    def add_arguments(self, parser):
        parser.add_argument("--now", type=parse_now, help="Pretend it is this moment (ISO 8601).")
        parser.add_argument(
            "--full", action="store_true", help="Recompute all days, not only the changed ones."
        )

    def handle(self, *args, now=None, full=False, **options):
        self.stdout.write(dashboard_rollup_refresh(now=now or timezone.now(), full=full))
