"""The training process (``python -m training.worker <run folder>``): TensorFlow lives here only.

Nothing in the web process or a Celery worker imports this package; the ``training.run`` job
starts it as a child process and reads its lines (see :mod:`training.protocol`).
"""
