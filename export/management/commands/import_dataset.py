"""``manage.py import_dataset PATH --project ID_OR_NAME --format coco|yolo|voc|imagefolder [--clip] [--skip-broken]``.

Runs the same all-or-nothing import as ``POST /api/projects/{id}/import``, synchronously, with a
progress bar; PATH may be a zip or a folder. The run is recorded as a job like any other import.
``--skip-broken`` leaves broken image files out (and lists them) instead of refusing the dataset.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotate.models import Project
from annotate.selectors import project_by_id_or_name
from export.dataset_import import dataset_import_job_create, dataset_import_job_run
from export.dataset_importers import FORMATS
from jobs.models import Job
from jobs.runner import JobContext, run_job


class _BarContext:
    """The job's context, also moving a progress bar."""

    def __init__(self, ctx: JobContext, bar: tqdm):
        self.ctx, self.bar = ctx, bar

    def progress(self, fraction: float, message: str | None = None, *, force: bool = False) -> None:
        self.bar.update(round(fraction * 1000) - self.bar.n)
        if message:
            self.bar.set_description_str(message[:60])
        self.ctx.progress(fraction, message, force=force)

    def log(self, line: str) -> None:
        self.ctx.log(line)


class Command(BaseCommand):
    help = "Import a dataset (zip or folder) into a project: all of it, or nothing with a report of its problems."

    def add_arguments(self, parser):
        parser.add_argument("path", help="A zip archive or a folder holding the dataset")
        parser.add_argument("--project", required=True, help="The project's id or exact name")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--clip", action="store_true", help="Clip boxes/points slightly outside the image")
        parser.add_argument(
            "--skip-broken", action="store_true",
            help="Leave out broken image files (and their annotations), listing them, instead of refusing the dataset",
        )
        parser.add_argument("--user", default=None, help="Username recorded as the importer")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar")

    def _project(self, value: str) -> Project:
        try:
            return project_by_id_or_name(value)
        except LookupError as exc:
            raise CommandError(str(exc)) from None

    def handle(
        self, *args, path: str, project: str, format: str, clip: bool, user: str | None, skip_broken: bool = False,
        **options,
    ):
        target = self._project(project)
        importer = None
        if user:
            importer = get_user_model().objects.filter(username=user).first()
            if importer is None:
                raise CommandError(f"No user {user!r}.")
        job = dataset_import_job_create(
            project=target, path=path, format=format, user=importer, clip=clip, name=path, skip_broken=skip_broken
        )
        with tqdm(total=1000, disable=options["no_progress"], file=self.stderr, unit="‰", leave=False) as bar:

            def work(ctx: JobContext) -> dict:
                loaded = Job.objects.select_related("project", "created_by").get(pk=job.pk)
                return dataset_import_job_run(job=loaded, ctx=_BarContext(ctx, bar))

            run_job(job.pk, work)
        job.refresh_from_db()
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(f"Import failed (job #{job.pk}).\n{job.error}")
        r = job.result
        self.stdout.write(
            f"Imported into project #{target.pk} {target.name!r} (job #{job.pk}): {r['image_files']} image files, "
            f"{r['duplicate_files']} of them copies of others; {r['images_created']} images added, "
            f"{r['annotations_created']} annotations {r['annotations_by_kind']}, labels created "
            f"{len(r['labels_created'])}, matched {len(r['labels_matched'])}; splits {r['splits']}; "
            f"clipped {r['clipped']}; turned upright {r['turned_upright']}; already in the project "
            f"{r['images_existing']}; repaired {r['repaired_count']}; skipped {r['skipped_count']}."
        )
        for repaired in r["repaired"]:
            self.stdout.write(f"  repaired {repaired}: its end-of-image marker was missing and was added")
        for skipped in r["skipped"]:
            self.stdout.write(f"  skipped {skipped['file']}: {skipped['reason']}")
