"""``python -m training.worker <run folder>``: train, evaluate and export one run (see :mod:`training.worker.run`).

Nothing is imported at module level: the augmentation pool's worker processes (``forkserver`` /
``spawn``) import this module as their ``__mp_main__`` and must not load TensorFlow.
"""

if __name__ == "__main__":
    import sys

    from training.worker.run import main

    sys.exit(main(sys.argv[1:]))
