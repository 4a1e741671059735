"""``manage.py synth``: create a synth job for a project and run its shards here, with a progress bar.

The job goes through the same checks and services as the API (``synth_job_create`` refuses a bad
spec before anything is created) and the same shard runner as the render workers, only in this
process and one shard after the other, so no Celery worker is needed. Ctrl-C cancels the job
(the shard rendering, and those not started yet); the images already stored stay.

Examples::

    manage.py synth Demo --generator blender --count 20 --resolution 320x240 --samples 16 \\
        --class cube=builtin:cube,builtin:sphere --seed 3
    manage.py synth 4 --generator cutpaste --count 100 --class cat=12 --background 15
    manage.py synth 4 --spec spec.json   # any spec field; command-line options override it
"""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotate.models import LabelClass, Project
from annotate.selectors import project_by_id_or_name
from jobs.models import Job
from jobs.runner import run_job
from jobs.services import JobAlreadyFinished
from synth import services
from synth.models import SynthShard


class _BarContext:
    """Hands a shard's progress to the job (as the worker does) and to the progress bar."""

    def __init__(self, ctx, bar: tqdm, before: int):
        self.ctx, self.bar, self.before = ctx, bar, before

    def progress(self, fraction: float, message: str | None = None, *, force: bool = False) -> None:
        self.ctx.progress(fraction, message, force=force)
        done = self.before + len(SynthShard.objects.get(job_id=self.ctx.job.pk).image_ids)
        self.bar.update(max(done - self.bar.n, 0))

    def __getattr__(self, name):
        return getattr(self.ctx, name)


def _resolution(text: str) -> list[int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CommandError(f"--resolution must look like 640x480, got {text!r}.")
    return [width, height]


class Command(BaseCommand):
    help = "Create a synthetic-data job for a project and run it in this process, with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or exact name")
        parser.add_argument("--spec", type=Path, help="JSON file with a job spec; the options below override it")
        parser.add_argument("--generator", choices=["blender", "cutpaste"])
        parser.add_argument("--count", type=int)
        parser.add_argument("--resolution", type=_resolution, help="WIDTHxHEIGHT, e.g. 640x480")
        parser.add_argument("--samples", type=int, help="Cycles samples per pixel (blender)")
        parser.add_argument("--denoise", action="store_true", default=None, help="denoise renders (blender)")
        parser.add_argument("--seed", type=int)
        parser.add_argument("--shard-size", type=int, dest="shard_size")
        parser.add_argument(
            "--class", action="append", dest="classes", default=[], metavar="LABEL=SOURCE[,SOURCE...]",
            help="a label name and what to show for it: built-in models (builtin:cube, builtin:sphere, "
            "builtin:cylinder, builtin:torus, builtin:character) or asset ids; repeat for more classes. "
            "For cutpaste, LABEL alone cuts out the project's annotated masks of that label.",
        )
        parser.add_argument("--background", action="append", dest="backgrounds", type=int, default=[],
                            help="id of a background (or HDRI) asset; repeat for more")
        parser.add_argument("--user", help="username the job and images are recorded under (default: project creator)")

    def handle(self, *args, **options):
        project = self._project(options["project"])
        user = self._user(options["user"], project)
        spec = self._spec(options, project)
        try:
            synth_job = services.synth_job_create(project=project, spec=spec, user=user, enqueue=False)
        except ValidationError as exc:
            details = exc.message_dict if hasattr(exc, "error_dict") else {"spec": exc.messages}
            lines = "\n".join(f"  {field}: {' '.join(msgs)}" for field, msgs in details.items())
            raise CommandError(f"The spec was refused:\n{lines}")
        shards = list(SynthShard.objects.filter(synth_job=synth_job).order_by("number"))
        total = sum(s.count for s in shards)
        self.stdout.write(f"Synth job {synth_job.pk} ({synth_job.generator}): {total} images in {len(shards)} shard(s)")
        before = 0
        try:
            with tqdm(total=total, unit="img", desc=f"synth job {synth_job.pk}", file=self.stderr._out) as bar:
                for shard in shards:
                    def work(ctx, shard=shard, before=before):
                        return services.shard_run(shard=shard, ctx=_BarContext(ctx, bar, before))

                    run_job(shard.job_id, work)
                    before += shard.count
                    services.synth_job_sync(synth_job=synth_job)
                    if Job.objects.get(pk=shard.job_id).status != Job.Status.SUCCEEDED:
                        break
        except KeyboardInterrupt:
            # The shard that was rendering is already marked cancelled (the job runner does it);
            # the rest of the job is cancelled too, and what was stored stays.
            try:
                job = services.synth_job_cancel(synth_job=synth_job)
            except JobAlreadyFinished:  # it ended just before the interrupt
                job = Job.objects.get(pk=synth_job.job_id)
            stored = len(services.synth_job_images(synth_job=synth_job, limit=total))
            raise CommandError(
                f"Interrupted: synth job {synth_job.pk} is {job.status}; {stored} image{'s' * (stored != 1)} "
                f"stored before the interrupt were kept."
            ) from None
        job = services.synth_job_sync(synth_job=synth_job)
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(f"Synth job {synth_job.pk} {job.status}: {job.error or job.message}")
        stored = job.result.get("images", 0)
        self.stdout.write(self.style.SUCCESS(
            f"Synth job {synth_job.pk} done: {stored} image{'s' * (stored != 1)} stored in project {project.pk}."
        ))

    def _project(self, ref: str) -> Project:
        try:
            return project_by_id_or_name(ref)
        except LookupError as exc:
            raise CommandError(str(exc)) from None

    def _user(self, username: str | None, project: Project):
        if username is None:
            return project.created_by
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        return user

    def _spec(self, options: dict, project: Project) -> dict:
        spec: dict = {}
        if options["spec"] is not None:
            try:
                spec = json.loads(options["spec"].read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read the spec file {options['spec']}: {exc}")
            if not isinstance(spec, dict):
                raise CommandError("The spec file must hold a JSON object.")
        for name in ("generator", "count", "resolution", "samples", "denoise", "seed", "shard_size"):
            if options[name] is not None:
                spec[name] = options[name]
        if options["backgrounds"]:
            spec["backgrounds"] = options["backgrounds"]
        if options["classes"]:
            labels = {label.name: label.pk for label in LabelClass.objects.filter(project=project)}
            classes = []
            for text in options["classes"]:
                name, _, sources = text.partition("=")
                if name not in labels:
                    known = ", ".join(sorted(labels)) or "none"
                    raise CommandError(f"--class {text!r}: no label named {name!r} in this project (labels: {known}).")
                refs = [s.strip() for s in sources.split(",") if s.strip()]
                assets = [int(s[6:]) if s.startswith("asset:") and s[6:].isdigit() else int(s) if s.isdigit() else s
                          for s in refs]
                classes.append({"label": labels[name], "assets": assets})
            spec["classes"] = classes
        return spec
