"""Start the web server and a Celery worker together; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the development web server and a Celery worker (queues default, render, train) together."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args, addr: str, concurrency: int, **options):
        python = sys.executable
        worker = subprocess.Popen(
            [python, "-m", "celery", "-A", "config", "worker", "-B", "-Q", "default,render,train",
             "--concurrency", str(concurrency), "-l", "info"],
            start_new_session=True,
        )
        web = subprocess.Popen([python, "manage.py", "runserver", addr, "--noreload"], start_new_session=True)
        children = [web, worker]
        self.stdout.write(self.style.SUCCESS(f"Lensforge on http://{addr}/  (worker pid {worker.pid}); Ctrl-C stops both."))

        def stop(*_: object) -> None:
            for child in children:
                if child.poll() is None:
                    os.killpg(child.pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)

        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            self.stderr.write("One of the processes stopped; stopping the other.")
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            stop()
