from django.apps import AppConfig


class AugmentConfig(AppConfig):
    name = "augment"

    def ready(self) -> None:
        from datasets.pipeline import step_register

        from .version_step import augment_options_clean, step_augment

        step_register("augment", step_augment, params_key="augment", clean=augment_options_clean)

        from annotate.hub import section_register

        from .models import Recipe

        section_register("recipes", title="Augmentation recipes", url_name="recipe-list-page", order=50,
                         count=lambda project: Recipe.objects.filter(project=project).count())
