"""The training process (``python -m training.worker <run folder>``): TensorFlow lives here only.

Nothing in the web process or a Celery worker imports this package; the ``training.run`` job
starts it as a child process and reads its lines (see :mod:`training.protocol`).

Modules:

* ``run`` — the loop: spec checks, threads and seeds, resume, epochs, checkpoints, test metrics,
  the inference-mode check, figures, export and measurement, the model card;
* ``data`` — images at the input size (stretch / letterbox, boxes moved), the in-memory cache,
  the ``tf.data`` pipelines; ``augmentation`` — the online recipe in a process pool;
* ``schedule`` — steps, the warm-up + cosine curve, BatchNormalization momentum (no TensorFlow);
  ``optim`` — their Keras side, the optimizer, loading earlier weights by layer name and shape;
* ``tasks`` — the registry (``classify``, ``detect``); ``task_api`` — what a task provides;
  ``classify`` — image classification; ``detect`` — object detection;
* ``artifacts`` — variants measured as files, the recommendation per target; ``plots`` — figures.

Only ``run``, ``optim`` and the tasks' ``build``/``compile`` import TensorFlow or Keras; ``data``,
``augmentation``, ``schedule``, ``artifacts`` and ``classify``'s metrics do not (the augmentation
workers import them, and so can tests). Nothing here imports Django.
"""
