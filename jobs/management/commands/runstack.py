"""Start the web server and the Celery workers together (default + render, and train with one
process: one training run at a time); Ctrl-C (or SIGTERM) stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand

STOP_TIMEOUT = 20.0  # seconds a process gets to finish its current work before it is killed


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = ("Run the development web server and the Celery workers together: queues default and render (with "
            "beat), and train with one process (one run at a time).")

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args, addr: str, concurrency: int, **options):
        # Handle both signals explicitly: a process started from a script inherits SIGINT ignored.
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        python = sys.executable
        # Own sessions: a terminal's Ctrl-C reaches only us, and we stop the children in order.
        worker = subprocess.Popen(
            [python, "-m", "celery", "-A", "config", "worker", "-B", "-Q", "default,render",
             "--concurrency", str(concurrency), "-n", "default@%h", "-l", "info"],
            start_new_session=True,
        )
        # One training run at a time: a run takes the machine (TRAINING_THREADS per TF pool, its memory).
        train_worker = subprocess.Popen(
            [python, "-m", "celery", "-A", "config", "worker", "-Q", "train", "--concurrency", "1",
             "-n", "train@%h", "-l", "info"],
            start_new_session=True,
        )
        web = subprocess.Popen([python, "manage.py", "runserver", addr, "--noreload"], start_new_session=True)
        children = {"web server": web, "worker": worker, "train worker": train_worker}
        self.stdout.write(self.style.SUCCESS(f"Lensforge on http://{addr}/ with its workers; Ctrl-C stops them all."))
        self.stdout.flush()
        try:
            while all(child.poll() is None for child in children.values()):
                time.sleep(0.5)
            stopped = [name for name, child in children.items() if child.poll() is not None]
            self.stderr.write(f"The {', '.join(stopped)} stopped; stopping the rest.")
        except KeyboardInterrupt:
            self.stdout.write("Stopping the web server and the workers…")
        finally:
            self._stop(children)

    def _stop(self, children: dict[str, subprocess.Popen]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.terminate()  # the worker finishes its current task (warm shutdown)
        deadline = time.monotonic() + STOP_TIMEOUT
        for name, child in children.items():
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"The {name} did not stop in {STOP_TIMEOUT:.0f}s; killing it.")
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        self.stdout.write("Stopped.")
