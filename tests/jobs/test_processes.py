"""The subprocess helper: stdout lines to a callback, a non-zero exit with its stderr tail, and a
cancel (or any error) that kills the child and waits for it."""

import os
import sys
import time

import pytest

from jobs import services
from jobs.models import Job
from jobs.processes import SubprocessFailed, subprocess_run
from jobs.runner import JobCancelled, JobContext


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_progress_lines_reach_the_callback_with_cwd_and_env(tmp_path):
    lines = []
    code = "import os, time\nfor i in range(3):\n    print('STEP', i); time.sleep(0.05)\nprint(os.getcwd(), os.environ['LF_X'])"
    subprocess_run(python(code), on_line=lines.append, cwd=tmp_path, env={"LF_X": "42"})
    assert lines == ["STEP 0", "STEP 1", "STEP 2", f"{tmp_path} 42"]


def test_a_non_zero_exit_raises_with_the_code_and_the_stderr_tail():
    code = "import sys\nprint('RENDERED 0')\nsys.stderr.write('x' * 5000 + 'the scene is broken')\nsys.exit(3)"
    lines = []
    with pytest.raises(SubprocessFailed) as raised:
        subprocess_run(python(code), on_line=lines.append, name="The Blender worker", stderr_tail_chars=100)
    assert lines == ["RENDERED 0"]
    assert raised.value.code == 3 and raised.value.stderr_tail.endswith("the scene is broken")
    assert str(raised.value).startswith("The Blender worker exited with code 3: ") and len(raised.value.stderr_tail) == 100


def test_a_cancel_kills_the_child_even_while_it_prints_nothing(users):
    job = services.job_create(kind="test.process", created_by=users["owner"])
    services.job_start(job=job)
    pids = []

    def on_line(line: str) -> None:
        pids.append(int(line))
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)  # the user cancels now

    start = time.monotonic()
    with pytest.raises(JobCancelled):
        subprocess_run(python("import os, time\nprint(os.getpid())\ntime.sleep(60)"), on_line=on_line,
                       ctx=JobContext(job), poll_seconds=0.1)
    assert time.monotonic() - start < 10 and len(pids) == 1 and gone(pids[0])


def test_an_error_in_the_callback_kills_the_child_and_propagates():
    pids = []

    def on_line(line: str) -> None:
        pids.append(int(line))
        raise ValueError("cannot store that image")

    with pytest.raises(ValueError, match="cannot store"):
        subprocess_run(python("import os, time\nprint(os.getpid())\ntime.sleep(60)"), on_line=on_line)
    assert gone(pids[0])
