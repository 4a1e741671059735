from django.apps import AppConfig


class AnnotateConfig(AppConfig):
    name = "annotate"
    verbose_name = "Projects and annotations"

    def ready(self) -> None:
        from .project_pages import register_sections

        register_sections()

        # Splits and health (annotate/health_views.py): the count is the unannotated images (one query).
        from .health_views import unannotated_count
        from .hub import section_register

        section_register("health", title="Splits and health", url_name="project-health-page", order=40,
                         count=unannotated_count)

        # Getting images in and following the work (annotate/intake_views.py).
        from .hub import section_register as register_intake_section
        from .intake_views import active_jobs_count

        register_intake_section("upload", title="Upload images", url_name="upload-page", order=10, can="upload")
        register_intake_section("import", title="Import a dataset", url_name="import-page", order=12, can="manage")
        register_intake_section("jobs", title="Jobs", url_name="project-jobs-page", order=90, count=active_jobs_count)
