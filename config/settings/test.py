"""Settings for the test suite.

Tasks run eagerly in-process by default; the tests that need a real worker start one in a
subprocess (see ``tests/conftest.py``) pointed at the same database, broker and media folder.
SQLite test databases are files, not memory, so that such a worker can open them.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path


def _scratch_data_dir() -> None:
    """A DATA_DIR of its own for a test process that was given none, removed when that process
    exits (worker subprocesses inherit it through the environment and leave it alone)."""
    folder = tempfile.mkdtemp(prefix="lensforge-test-")
    os.environ["DATA_DIR"] = folder
    owner = os.getpid()
    atexit.register(lambda: os.getpid() == owner and shutil.rmtree(folder, ignore_errors=True))


if "DATA_DIR" not in os.environ:
    _scratch_data_dir()

from .base import *  # noqa: E402,F403
from .base import DATA_DIR, DATABASES, env  # noqa: E402

DEBUG = False
SECRET_KEY = "test-only-secret-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
JOB_HEARTBEAT_SECONDS = 1
ALLOWED_HOSTS = ["*"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(Path(DATA_DIR) / "test.sqlite3")}
# A worker subprocess started by the tests connects straight to the test database.
if env("WORKER_DB_NAME", default=None):
    DATABASES["default"]["NAME"] = env("WORKER_DB_NAME")
