from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        from annotate.hub import section_register

        from .models import TrainingRun

        section_register("training", title="Training runs", url_name="training-run-list-page", order=80,
                         count=lambda project: TrainingRun.objects.filter(project=project).count())
