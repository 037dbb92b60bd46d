"""seed_demo: a reproducible demo company with 90 days of lead history (leads.demo)."""

from __future__ import annotations

import time as wallclock

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from campaigns.models import Campaign
from leads.demo.seeder import DemoSeeder
from leads.demo.story import DEMO_LEADS, DEMO_PASSWORD, MARKER_CAMPAIGN, QUEUE_LEADS


class Command(BaseCommand):
    help = (
        "Create a demo company with 90 days of leads (before and after LeadBridge), demo users "
        f"marketing/rep/manager/admin with password {DEMO_PASSWORD!r}. DEBUG only; idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--leads",
            type=int,
            default=DEMO_LEADS,
            help=f"How many leads to create (default {DEMO_LEADS}; at least {QUEUE_LEADS}).",
        )

    def handle(self, *args, leads: int = DEMO_LEADS, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo creates demo users with a known password; it runs only with DEBUG=true"
            )
        if leads < QUEUE_LEADS:
            raise CommandError(f"--leads must be at least {QUEUE_LEADS} (the reps' queues today)")
        started = wallclock.perf_counter()
        # Digital material is emailed to the lead on dispatch: 45 days of demo
        # history must not go out to anyone when this transaction commits. And
        # with DEBUG on, Django would keep each of the ~25,000 SQL statements in
        # connection.queries, a quarter of the run time.
        quiet = override_settings(
            EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend", DEBUG=False
        )
        with quiet, transaction.atomic():
            if Campaign.objects.filter(name=MARKER_CAMPAIGN, owner__username="marketing").exists():
                self.stdout.write("demo data already present")
                return
            seeder = DemoSeeder(now=timezone.now(), leads=leads, out=self.stdout)
            seeder.run()
        seeder.summary(seconds=wallclock.perf_counter() - started)
