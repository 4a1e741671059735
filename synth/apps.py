from django.apps import AppConfig


class SynthConfig(AppConfig):
    name = "synth"

    def ready(self) -> None:
        from jobs.services import register_group

        from .services import synth_job_result
        from .spec import GENERATORS

        # A synth job's Job is the parent of its shards' jobs (a group, kept in line by the jobs
        # app; cancelling it cancels them): its errors name shards, its result counts their images.
        for generator in GENERATORS:
            register_group(f"synth.{generator}", result=synth_job_result, child_name="shard", running_verb="rendering")

        from annotate.hub import section_register
        from annotate.models import Image

        section_register("synth", title="Synthetic data", url_name="synth-page", order=60,
                         count=lambda project: Image.objects.filter(project=project, source=Image.Source.SYNTHETIC).count())
