"""The web process never loads TensorFlow or Keras (DESIGN.md §2: training and model export run in
workers). Importing TF costs seconds and hundreds of MB per gunicorn worker, and a module-level
``import tensorflow`` slipping into an app's urls/api/admin/models would cost every page it.

Checked in a fresh interpreter (this test process may have loaded TF for other tests): set up
Django, import the URL table and every local app's ``urls``, ``api``, ``admin``, ``models`` and
``views`` modules, and the model-format package with its modules (they import TF inside functions
only), then look at ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import importlib, importlib.util, json, sys
from pathlib import Path
import django
django.setup()
from django.apps import apps
root = Path(sys.argv[1]).resolve()
imported = ["config.urls"]
importlib.import_module("config.urls")
for app in apps.get_app_configs():
    if Path(app.path).resolve().parent != root:  # our apps only, not Django's or DRF's
        continue
    for part in ("urls", "api", "admin", "models", "views"):
        name = f"{app.name}.{part}"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
            imported.append(name)
for name in ("export.model_formats", "export.model_formats.records", "export.model_formats.convert",
             "export.model_formats.measure", "export.model_formats.metadata"):
    importlib.import_module(name)
    imported.append(name)
heavy = sorted(m for m in ("tensorflow", "keras", "tf2onnx", "tf_keras") if m in sys.modules)
print(json.dumps({"imported": imported, "heavy": heavy}))
"""


@pytest.mark.slow
def test_web_modules_do_not_import_tensorflow_or_keras():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "annotate.models" in report["imported"] and "export.model_formats.convert" in report["imported"]
    assert report["heavy"] == [], f"the web process imported {report['heavy']} (modules checked: {report['imported']})"
