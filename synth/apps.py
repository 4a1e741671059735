from django.apps import AppConfig


class SynthConfig(AppConfig):
    name = "synth"

    def ready(self) -> None:
        from jobs.services import register_cancel_handler

        from .services import synth_job_cancel_by_job
        from .spec import GENERATORS

        # A synth job's Job stands for its shards: cancelling it cancels them (see synth_job_cancel).
        for generator in GENERATORS:
            register_cancel_handler(f"synth.{generator}", synth_job_cancel_by_job)
