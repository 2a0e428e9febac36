"""Run the scheduled jobs once, here and now (beat's schedule, CELERY_BEAT_SCHEDULE). For an
install without beat (the embedded default of `make run`), run it from cron, e.g. hourly:
retention, purges, key pruning and scheduled rotation then happen there too."""
from __future__ import annotations

from celery import current_app
from django.conf import settings
from django.core.management.base import CommandError

from custos.commands import CustosCommand


class Command(CustosCommand):
    help = "Run every scheduled job once (or --only NAME ...), in this process; exit 1 if one failed."

    def add_arguments(self, parser):
        parser.add_argument("--only", nargs="+", default=None, metavar="NAME",
                            help=f"job names: {', '.join(settings.CELERY_BEAT_SCHEDULE)}")

    def handle(self, *args, **opts):
        schedule = settings.CELERY_BEAT_SCHEDULE
        names = opts["only"] or list(schedule)
        unknown = [n for n in names if n not in schedule]
        if unknown:
            raise CommandError(f"no such job: {', '.join(unknown)} (jobs: {', '.join(schedule)})")
        current_app.loader.import_default_modules()  # the rooms' tasks modules register their tasks
        failed = []
        for name in names:
            # here, synchronously, whatever the broker; a failure is reported, the other jobs still run
            result = current_app.tasks[schedule[name]["task"]].apply(throw=False)
            if result.failed():
                failed.append(f"{name} ({type(result.result).__name__})")
                self.stdout.write(f"{name}: failed")
            else:
                self.stdout.write(f"{name}: ok")
        if failed:
            raise CommandError(f"failed: {', '.join(failed)}")
