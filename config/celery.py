"""The one Celery app. Workers consume the ``default``, ``render`` and ``train`` queues.

Which queue a task goes to is declared with the task (``jobs.registry.job_task(kind, queue=...)``),
not routed here by name.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("lensforge")
app.config_from_object("django.conf:settings", namespace="CELERY")
# The modules of each app that hold its tasks (export keeps its import task apart).
TASK_MODULES = ("tasks", "import_tasks")
for _module in TASK_MODULES:
    app.autodiscover_tasks(related_name=_module)
