from django.apps import AppConfig


class ExportConfig(AppConfig):
    name = "export"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from datasets.pipeline import materializer_register

        from . import dataset_formats, signals
        from .models import Export

        for materializer in dataset_formats.MATERIALIZERS:
            materializer_register(materializer)
        post_delete.connect(signals.export_file_remove, sender=Export, dispatch_uid="export-file-remove")

        from annotate.hub import section_register
        from datasets.models import DatasetVersion

        section_register("versions", title="Versions and exports", url_name="version-list-page", order=70,
                         count=lambda project: DatasetVersion.objects.filter(project=project).count())
