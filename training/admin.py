"""Training runs in the admin: an add form that queues the run when saved, through the same service
as the API and the command (its refusals shown on the form); a change list with status, progress,
epoch and the best validation metric; actions to cancel and to re-run with the same settings; a
read-only change page with the per-epoch table, the plots and the variant table with downloads."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from jobs.services import JobAlreadyFinished

from . import catalog, services
from .models import ModelArtifact, RobustnessReport, TrainingRun
from .templatetags.training_tags import shown
from .validation import run_params_clean
from .views import history_columns

OPTION_FIELDS = ("alpha", "minimalistic", "bn_momentum", "class_weights", "ema", "pruning", "keypoint_label",
                 "segment_output")
FORM_FIELDS = (
    "version", "task", "architecture", "input_size", "epochs", "batch_size", "learning_rate", "schedule",
    "warmup_epochs", "recipe", "init_from", "init_weights_file", "seed",
)


class TrainingRunAddForm(forms.ModelForm):
    """The settings of a new run; checked by :func:`training.validation.run_params_clean`."""

    task = forms.ChoiceField(choices=[(t, t) for t in catalog.TASKS])
    architecture = forms.ChoiceField(
        choices=[(name, f"{a.title} ({', '.join(a.tasks)})") for name, a in catalog.ARCHITECTURES.items()],
        initial="mobilenet_v3_small",
    )
    input_size = forms.IntegerField(initial=catalog.DEFAULT_INPUT_SIZE, help_text="32..1024, a multiple of 32")
    epochs = forms.IntegerField(initial=30, help_text="1..1000")
    batch_size = forms.IntegerField(initial=32, help_text="1..1024")
    learning_rate = forms.FloatField(initial=1e-3, help_text="0 < rate ≤ 1")
    warmup_epochs = forms.IntegerField(required=False, help_text="Empty: a fifth of the run, at most 3")
    seed = forms.IntegerField(initial=0)
    alpha = forms.FloatField(required=False, help_text="MobileNetV3 width multiplier, 0.25..1.5 (empty: 1.0)")
    minimalistic = forms.BooleanField(required=False, help_text="MobileNetV3 minimalistic blocks")
    bn_momentum = forms.CharField(required=False, initial="auto", help_text='"auto" or a number between 0 and 1')
    class_weights = forms.BooleanField(required=False, help_text="Weight the loss per class against imbalance")
    ema = forms.FloatField(
        required=False, help_text="Decay of a moving average of the weights that is validated and exported, e.g. "
        "0.995 (empty: none)"
    )
    pruning = forms.FloatField(
        required=False, help_text="Magnitude pruning to this target sparsity, e.g. 0.5 (empty: a dense model)"
    )
    keypoint_label = forms.CharField(
        required=False, help_text="keypoints: the keypoint class to train (empty: the version's only one in use)"
    )
    segment_output = forms.ChoiceField(
        required=False, choices=[("", "class map (default)"), ("class_map", "class map"), ("scores", "per-class scores")],
        help_text="segment: what the exported file outputs",
    )

    class Meta:
        model = TrainingRun
        fields = list(FORM_FIELDS)

    def settings(self) -> dict:
        data = self.cleaned_data
        params = {name: data.get(name) for name in FORM_FIELDS}
        options = {name: data.get(name) for name in OPTION_FIELDS}
        params["options"] = {k: v for k, v in options.items() if v not in (None, "")}
        return params

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        version = data.get("version")
        if version is None:
            return data
        try:
            self.cleaned_settings = run_params_clean(project=version.project, params=self.settings())
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                name = field.removeprefix("options.").split(".")[0]
                for problem in problems:
                    self.add_error(name if name in self.fields else None, problem)
        return data


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "version", "task", "architecture", "status_shown", "progress_shown",
                    "epoch_shown", "best_metric_shown", "created_by", "created_at"]
    list_filter = ["task", "architecture", "job__status"]
    search_fields = ["project__name", "architecture"]
    list_select_related = ["project", "version", "job", "created_by"]
    actions = ["cancel_runs", "rerun_runs"]
    add_form = TrainingRunAddForm
    detail_fields = ("run_summary", "epoch_table", "plot_images", "variant_table")

    # --- the change list ------------------------------------------------------------------
    @admin.display(description="status")
    def status_shown(self, run: TrainingRun) -> str:
        return run.status

    @admin.display(description="progress")
    def progress_shown(self, run: TrainingRun) -> str:
        return f"{run.progress:.0%}"

    @admin.display(description="epoch")
    def epoch_shown(self, run: TrainingRun) -> str:
        return f"{run.epochs_done}/{run.epochs}"

    @admin.display(description="best val metric")
    def best_metric_shown(self, run: TrainingRun) -> str:
        value = run.best_val_metric
        return "" if value is None else f"val_{run.headline} {value:.4f}"

    # --- adding: through the service ------------------------------------------------------
    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ["version", "task", "architecture", "input_size"]}),
                ("Training", {"fields": ["epochs", "batch_size", "learning_rate", "schedule", "warmup_epochs", "seed"]}),
                ("Data and initial weights", {"fields": ["recipe", "init_from", "init_weights_file"]}),
                ("Options", {"fields": list(OPTION_FIELDS)}),
            ]
        return [
            (None, {"fields": list(self.detail_fields)}),
            ("Settings", {"fields": ["project", "version", "task", "architecture", "input_size", "epochs", "batch_size",
                                     "learning_rate", "schedule", "warmup_epochs", "options", "recipe", "init_from",
                                     "init_weights_file", "seed", "labels", "job", "created_by", "created_at"]}),
            ("Results", {"fields": ["best_epoch", "metrics", "model_card"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [*self.detail_fields, *(f.name for f in TrainingRun._meta.fields)]

    def has_change_permission(self, request, obj=None) -> bool:
        # A started run is what it is: its page is read-only (actions need the list's permission).
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return
        params = form.settings()
        version = params["version"]
        run = services.training_run_start(project=version.project, user=request.user, **params)
        for field in TrainingRun._meta.concrete_fields:  # the admin goes on with the row the service made
            setattr(obj, field.attname, getattr(run, field.attname))
        obj._state.adding = False

    def delete_model(self, request, obj) -> None:
        services.training_run_delete(run=obj)

    def delete_queryset(self, request, queryset) -> None:
        for run in queryset.select_related("job"):
            try:
                services.training_run_delete(run=run)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)

    # --- actions --------------------------------------------------------------------------
    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request, queryset) -> None:
        cancelled = 0
        for run in queryset.select_related("job"):
            try:
                services.training_run_cancel(run=run)
                cancelled += 1
            except (JobAlreadyFinished, ValidationError):
                continue
        self.message_user(request, f"Cancel requested for {cancelled} run(s); runs that had ended are left as they are.")

    @admin.action(description="Re-run with the same settings")
    def rerun_runs(self, request, queryset) -> None:
        started = []
        for run in queryset.select_related("project", "version"):
            try:
                started.append(services.training_run_rerun(run=run, user=request.user).pk)
            except ValidationError as exc:
                problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                self.message_user(request, f"Run {run.pk} cannot be re-run: {problems}", messages.ERROR)
        if started:
            self.message_user(request, f"Queued run(s) {', '.join(map(str, started))} with the same settings.")

    # --- the change page ------------------------------------------------------------------
    @admin.display(description="Run")
    def run_summary(self, run: TrainingRun) -> str:
        job = run.job
        return format_html(
            '<strong>{}</strong> · {} · epoch {}/{} · {} · <a href="{}">run page</a>{}',
            run.status, f"{run.progress:.0%}", run.epochs_done, run.epochs, job.message if job else "",
            reverse("training-run-page", args=[run.pk]),
            format_html('<br><span style="color:#b3261e">{}</span>', job.error) if job and job.error else "",
        )

    @admin.display(description="Per-epoch history")
    def epoch_table(self, run: TrainingRun) -> str:
        history = run.history or []
        if not history:
            return "No epoch has finished yet."
        columns = history_columns(history, run.headline)
        head = format_html_join("", "<th>{}</th>", ((c,) for c in columns))
        rows = format_html_join(
            "", "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((shown(entry.get(c)),) for c in columns)),) for entry in history),
        )
        return format_html('<table data-testid="epochs"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, rows)

    @admin.display(description="Plots")
    def plot_images(self, run: TrainingRun) -> str:
        if not run.plots:
            return "None yet."
        return format_html_join(
            "", '<figure style="display:inline-block;margin:0 1em 1em 0"><img src="{}" alt="{}" style="max-width:480px">'
                '<figcaption>{}</figcaption></figure>',
            ((reverse("training-run-plot", args=[run.pk, name]), name, name) for name in sorted(run.plots)),
        )

    @admin.display(description="Exported variants")
    def variant_table(self, run: TrainingRun) -> str:
        artifacts = list(run.artifacts.order_by("id"))
        if not artifacts:
            return "None yet."
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td></tr>", (
            (a.format, a.variant, a.status if not a.error else f"{a.status}: {a.error[:200]}", shown(a.size_bytes),
             shown(a.latency_ms.get("1")), shown(a.latency_ms.get("2")), shown(a.metrics.get(run.headline)),
             format_html('<a href="{}">download</a>', reverse("artifact-download", args=[a.pk]))
             if a.status == ModelArtifact.Status.OK else "")
            for a in artifacts
        ))
        return format_html(
            '<table data-testid="variants"><thead><tr><th>format</th><th>variant</th><th>status</th><th>bytes</th>'
            "<th>latency ms (1 / 2 threads)</th><th>{}</th><th></th></tr></thead><tbody>{}</tbody></table>",
            run.headline, rows,
        )


@admin.register(ModelArtifact)
class ModelArtifactAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "format", "variant", "status", "size_bytes", "sha256", "created_at"]
    list_filter = ["format", "variant", "status"]
    list_select_related = ["run"]
    readonly_fields = ["download", *(f.name for f in ModelArtifact._meta.fields)]

    @admin.display(description="download")
    def download(self, artifact: ModelArtifact) -> str:
        if artifact.status != ModelArtifact.Status.OK:
            return ""
        return format_html('<a href="{}">zip</a>', reverse("artifact-download", args=[artifact.pk]))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RobustnessReport)
class RobustnessReportAdmin(admin.ModelAdmin):
    """Reports are started from the run page or the API (a job each); here they are read."""

    list_display = ["id", "run", "variant", "seed", "status", "metric", "clean", "created_at"]
    list_select_related = ["run", "job"]
    readonly_fields = [f.name for f in RobustnessReport._meta.fields]

    @admin.display(description="status")
    def status(self, report: RobustnessReport) -> str:
        return report.status

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
