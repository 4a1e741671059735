"""Production settings refuse to start with a SECRET_KEY that `check --deploy` would call weak."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def start(tmp_path, secret_key: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], capture_output=True, text=True, cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "config.settings.production", "PATH": "/usr/bin", "DEBUG": "0",
             "SECRET_KEY": secret_key, "DATA_DIR": str(tmp_path)},
    )


@pytest.mark.parametrize("key", ["s3cr3t-but-short", "abcd" * 20, secrets.token_urlsafe(30)[:49]])
def test_a_short_or_repetitive_key_is_refused_with_a_sentence(tmp_path, key):
    result = start(tmp_path, key)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "at least 50 characters" in result.stderr


def test_a_long_random_key_starts(tmp_path):
    result = start(tmp_path, secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stderr[-2000:]
