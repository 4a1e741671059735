"""``manage.py train --version ID --task classify --architecture mobilenet_v3_small --epochs 30 …``.

Starts a run through the same service as the API and the admin (the same checks, the same
refusals), then runs its job here, in this process, with a progress bar per epoch, and prints the
variant table at the end: format, variant, size, latency at 1 and 2 threads, and the task metric
measured on each file. The run is recorded like any other (admin, API, run page); Ctrl-C cancels it.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from datasets.models import DatasetVersion
from jobs.models import Job
from jobs.runner import JobContext, run_job
from training import catalog
from training.models import ModelArtifact, TrainingRun
from training.services import training_run_execute, training_run_start


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _number(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def variant_table(run: TrainingRun) -> list[str]:
    """The lines of the final table (also what the run page and the admin show)."""
    headline = run.headline
    rows = [("format", "variant", "status", "size", "latency 1t", "latency 2t", headline)]
    for a in ModelArtifact.objects.filter(run=run).order_by("id"):
        latency = a.latency_ms or {}
        rows.append((
            a.format, a.variant, a.status, _size(a.size_bytes),
            f"{_number(latency.get('1'))} ms" if latency.get("1") is not None else "-",
            f"{_number(latency.get('2'))} ms" if latency.get("2") is not None else "-",
            _number((a.metrics or {}).get(headline)),
        ))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


class _EpochBars:
    """One progress bar per epoch, filled by the PROGRESS lines and closed by the EPOCH line."""

    def __init__(self, total_epochs: int, stream, disabled: bool):
        self.total, self.stream, self.disabled = total_epochs, stream, disabled
        self.bar: tqdm | None = None
        self.epoch = 0
        self.start_fraction = 0.0
        self.last_message = ""

    def _open(self, fraction: float) -> None:
        self.bar = tqdm(total=1000, desc=f"epoch {self.epoch + 1}/{self.total}", unit="‰", leave=True,
                        file=self.stream, disable=self.disabled, bar_format="{desc} {percentage:3.0f}%|{bar}|{postfix}")
        self.start_fraction = fraction

    def __call__(self, event: str, payload) -> None:
        if event == "RESUMED":
            self.epoch = int(payload)
            self.stream.write(f"Resumed after epoch {self.epoch}\n")
        elif event == "PROGRESS":
            fraction, message = payload
            if self.epoch >= self.total:  # after training: export and measurement
                if self.bar is not None:
                    self.bar.close()
                    self.bar = None
                if message and message != self.last_message and not self.disabled:
                    self.stream.write(f"{message}\n")
                self.last_message = message
                return
            if self.bar is None:
                self._open(fraction)
            assert self.bar is not None
            # The part of this epoch done, from the run's fraction (training spans ~0.85 of it).
            per_epoch = 0.85 / max(self.total, 1)
            done = min(max((fraction - self.start_fraction) / per_epoch, 0.0), 1.0)
            self.bar.update(round(done * 1000) - self.bar.n)
            if message:
                self.bar.set_postfix_str(message[:50], refresh=False)
        elif event == "EPOCH":
            if self.bar is None:
                self._open(0.0)
            assert self.bar is not None
            self.bar.update(1000 - self.bar.n)
            shown = {k: v for k, v in payload.items() if k != "epoch"}
            self.bar.set_postfix_str(" ".join(f"{k}={_number(v)}" for k, v in shown.items())[:120])
            self.bar.close()
            self.bar = None
            self.epoch = int(payload.get("epoch", self.epoch + 1))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Command(BaseCommand):
    help = "Train a model on a dataset version (validated like the API), in this process, and print its variants."

    def add_base_argument(self, parser, *args, **kwargs):
        if "--version" in args:  # here --version names the dataset version, not the program's
            return
        super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--version", required=True, type=int, help="The dataset version's id")
        parser.add_argument("--task", required=True, choices=catalog.TASKS)
        parser.add_argument("--architecture", default="mobilenet_v3_small", help=", ".join(catalog.ARCHITECTURES))
        parser.add_argument("--epochs", type=int, default=30)
        parser.add_argument("--input-size", type=int, default=None, help="Square input, 32..1024 in steps of 32 (224)")
        parser.add_argument("--batch-size", type=int, default=None, help="1..1024 (32)")
        parser.add_argument("--learning-rate", type=float, default=None, help="0 < rate <= 1 (0.001)")
        parser.add_argument("--schedule", default=None, choices=catalog.SCHEDULES)
        parser.add_argument("--warmup-epochs", type=int, default=None)
        parser.add_argument("--recipe", type=int, default=None, help="An augmentation recipe id, applied online to train")
        parser.add_argument("--init-from", type=int, default=None, help="A finished run to fine-tune from")
        parser.add_argument("--init-weights", default=None, help="A local .keras / .h5 file to start from")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--alpha", type=float, default=None, help="MobileNetV3 width multiplier 0.25..1.5")
        parser.add_argument("--minimalistic", action="store_true", help="MobileNetV3 minimalistic blocks")
        parser.add_argument("--bn-momentum", default=None, help='"auto" or a number between 0 and 1')
        parser.add_argument("--class-weights", action="store_true", help="Weight the loss per class")
        parser.add_argument("--ema", type=float, default=None,
                            help="Decay of a moving average of the weights that is validated and exported, e.g. 0.995")
        parser.add_argument("--pruning", type=float, default=None, help="Magnitude pruning to this sparsity, e.g. 0.5")
        parser.add_argument("--keypoint-label", default=None, help="keypoints: the keypoint class to train")
        parser.add_argument("--segment-output", default=None, choices=("class_map", "scores"),
                            help="segment: the exported file's output")
        parser.add_argument("--user", default=None, help="Username recorded as the run's starter")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw progress bars")

    def handle(self, *args, **o):
        version = DatasetVersion.objects.select_related("project").filter(pk=o["version"]).first()
        if version is None:
            raise CommandError(f"No dataset version {o['version']}.")
        user = None
        if o["user"]:
            user = get_user_model().objects.filter(username=o["user"]).first()
            if user is None:
                raise CommandError(f"No user {o['user']!r}.")
        options = {"alpha": o["alpha"], "bn_momentum": o["bn_momentum"], "pruning": o["pruning"], "ema": o["ema"],
                   "keypoint_label": o["keypoint_label"], "segment_output": o["segment_output"]}
        if o["minimalistic"]:
            options["minimalistic"] = True
        if o["class_weights"]:
            options["class_weights"] = True
        params = {
            "version": version, "task": o["task"], "architecture": o["architecture"], "epochs": o["epochs"],
            "input_size": o["input_size"], "batch_size": o["batch_size"], "learning_rate": o["learning_rate"],
            "schedule": o["schedule"], "warmup_epochs": o["warmup_epochs"], "recipe": o["recipe"],
            "init_from": o["init_from"], "seed": o["seed"],
            # A path on the command line is relative to where the command runs.
            "init_weights_file": str(Path(o["init_weights"]).expanduser().resolve()) if o["init_weights"] else None,
            "options": {k: v for k, v in options.items() if v is not None},
        }
        try:
            run = training_run_start(project=version.project, user=user, enqueue=False, allow_any_weights_path=True,
                                     **params)
        except ValidationError as exc:
            problems = "\n".join(f"  {field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
            raise CommandError(f"The run was refused:\n{problems}") from None
        self.stdout.write(
            f"Run {run.pk}: {run.task} {run.architecture} {run.input_size}px on version {version.number} of "
            f"{version.project.name!r}, {run.epochs} epochs (job {run.job_id})."
        )
        self.stdout.flush()
        bars = _EpochBars(run.epochs, self.stderr, o["no_progress"])
        try:
            def work(ctx: JobContext) -> dict:
                loaded = TrainingRun.objects.select_related("project", "version", "recipe", "init_from").get(pk=run.pk)
                return training_run_execute(run=loaded, ctx=ctx, on_event=bars)

            run_job(run.job_id, work)
        finally:
            bars.close()
        run.refresh_from_db()
        job = Job.objects.get(pk=run.job_id)
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(f"Run {run.pk} {job.status}: {job.error or job.message}")
        value = (run.metrics or {}).get(run.headline)
        self.stdout.write(
            f"Run {run.pk} done: best epoch {run.best_epoch}, test {run.headline} {_number(value)} (Keras model)."
        )
        for line in variant_table(run):
            self.stdout.write(line)
