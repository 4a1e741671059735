from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotate.demo import demo_project_create


class Command(BaseCommand):
    help = "Create a small demo project with locally generated images, owned by the given user."

    def add_arguments(self, parser):
        parser.add_argument("--owner", default="admin")
        parser.add_argument("--images", type=int, default=12)

    def handle(self, *args, owner: str, images: int, **options):
        user = get_user_model().objects.filter(username=owner).first()
        if user is None:
            raise CommandError(f"No user {owner!r}; run ensure_admin first.")
        project = demo_project_create(owner=user, images=images)
        self.stdout.write(f"Demo project #{project.pk} {project.name!r}: {project.images.count()} images.")
