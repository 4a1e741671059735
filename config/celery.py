"""The one Celery app. Workers consume the ``default``, ``render`` and ``train`` queues."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("lensforge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(related_name="import_tasks")  # export.import_tasks
