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
