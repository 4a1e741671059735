import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the 'admin' superuser if missing (password from ADMIN_PASSWORD, else generated and printed once)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        import os

        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"User {username!r} exists; leaving its password alone.")
            return
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        if os.environ.get("ADMIN_PASSWORD"):
            self.stdout.write(self.style.SUCCESS(f"Created superuser {username!r} with the password from ADMIN_PASSWORD."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Created superuser {username!r} with password: {password}"))
            self.stdout.write("  (shown only now; change it in the admin or set ADMIN_PASSWORD next time)")
