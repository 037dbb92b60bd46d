from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from followups.notifications import notification_emails_send
from followups.services import sweep_overdue


def parse_now(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"--now {value!r} is not ISO 8601, e.g. 2026-11-23T09:30:00+01:00"
        ) from None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = "One pass of the overdue sweep (warn, flag, escalate, reassign), then send its emails."

    def add_arguments(self, parser):
        parser.add_argument("--now", type=parse_now, help="Pretend it is this moment (ISO 8601).")
        parser.add_argument(
            "--no-email", action="store_true", help="Leave the emails to the worker."
        )

    def handle(self, *args, now=None, no_email=False, **options):
        now = now or timezone.now()
        report = sweep_overdue(now=now)
        self.stdout.write(f"{timezone.localtime(now):%Y-%m-%d %H:%M %Z}: {report}")
        if report.unassignable:
            self.stdout.write(f"no rep free to take over follow-ups {report.unassignable}")
        if not no_email:
            sent = notification_emails_send(now=now)
            self.stdout.write(f"emails sent: {sent}")
