from django.core.management.base import BaseCommand

from jobs.services import jobs_sweep_stale


class Command(BaseCommand):
    help = "Mark failed the running jobs whose worker stopped sending heartbeats."

    def handle(self, *args, **options):
        self.stdout.write(f"Marked {jobs_sweep_stale()} stale job(s) failed.")
