from django.apps import AppConfig


class AugmentConfig(AppConfig):
    name = "augment"
