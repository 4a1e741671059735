"""Work that runs in a child process, spoken to over a line protocol on its stdout.

Blender renders in its own process (bpy keeps one scene per process and is not thread-safe), and
training will run the same way: the job's task starts the command, every line the child prints on
stdout is handed to a callback (``RENDERED 3``, ``EPOCH 2 loss=0.41``: the child's progress, which
the callback turns into stored results and ``ctx.progress``), and the child's stderr goes to a
temporary file so that a crash is reported with its last lines. The job's cancel is honoured while
the child runs, even while it prints nothing; the child is killed when the job is cancelled or
anything goes wrong here (a callback raising, Ctrl-C), and always waited for, so no child outlives
its job.
"""

from __future__ import annotations

import os
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Protocol


class CancelCheck(Protocol):
    def check_cancelled(self) -> None: ...


class SubprocessFailed(RuntimeError):
    """The child exited with a non-zero code (or was killed by a signal: a negative code)."""

    def __init__(self, *, name: str, code: int, stderr_tail: str):
        self.code, self.stderr_tail = code, stderr_tail
        super().__init__(f"{name} exited with code {code}: {stderr_tail}")


def _pump(stream: IO[str], lines: queue.Queue) -> None:
    try:
        for line in stream:
            lines.put(line)
    except (OSError, ValueError):  # the pipe went away with the child
        pass
    finally:
        lines.put(None)


def _tail(file: IO[bytes], chars: int) -> str:
    size = file.seek(0, os.SEEK_END)
    file.seek(max(size - 4 * chars, 0))
    return file.read().decode(errors="replace")[-chars:]


def subprocess_run(
    command: Sequence[str | os.PathLike],
    *,
    on_line: Callable[[str], None],
    ctx: CancelCheck | None = None,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    name: str = "The worker process",
    poll_seconds: float = 0.5,
    stderr_tail_chars: int = 1500,
) -> None:
    """Run ``command`` to its end, handing each stdout line (newline stripped) to ``on_line``.

    ``env`` adds to this process's environment (the child's output is unbuffered). ``ctx``
    (a :class:`jobs.runner.JobContext`) is asked ``check_cancelled()`` between lines and at least
    every ``poll_seconds``: its :class:`jobs.runner.JobCancelled` kills the child and propagates,
    as does any exception ``on_line`` raises. A non-zero exit raises :class:`SubprocessFailed`
    with the code and the last ``stderr_tail_chars`` of stderr, in words starting with ``name``.
    """
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with tempfile.TemporaryFile(prefix="lensforge-stderr-") as err:
        proc = subprocess.Popen(
            [str(part) for part in command], stdout=subprocess.PIPE, stderr=err, cwd=cwd, env=environment,
            text=True, errors="replace",
        )
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True, name=f"stdout-{proc.pid}")
        reader.start()
        try:
            checked = time.monotonic()
            while True:
                try:
                    line = lines.get(timeout=poll_seconds)
                except queue.Empty:
                    line = ""
                else:
                    if line is None:  # end of output: the child is exiting
                        break
                    on_line(line.rstrip("\r\n"))
                if ctx is not None and time.monotonic() - checked >= poll_seconds:
                    ctx.check_cancelled()
                    checked = time.monotonic()
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            reader.join(timeout=5)
            if not reader.is_alive() and proc.stdout is not None:
                proc.stdout.close()
        if code != 0:
            raise SubprocessFailed(name=name, code=code, stderr_tail=_tail(err, stderr_tail_chars))
