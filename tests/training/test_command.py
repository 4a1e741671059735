"""``manage.py train``: validated by the service, run in this process, the variant table printed."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from jobs.models import Job
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


def test_train_runs_in_process_and_prints_the_variant_table(fake_worker, classify_version, users):
    out, err = io.StringIO(), io.StringIO()
    call_command("train", "--version", str(classify_version.pk), "--task", "classify", "--architecture",
                 "mobilenet_v3_small", "--epochs", "3", "--input-size", "64", "--alpha", "0.5", "--minimalistic",
                 "--ema", "0.99", "--user", "owner", stdout=out, stderr=err)
    run = TrainingRun.objects.get()
    assert run.job.status == Job.Status.SUCCEEDED and run.created_by == users["owner"]
    assert run.options["alpha"] == 0.5 and run.options["minimalistic"] is True and run.options["ema"] == 0.99
    text = out.getvalue()
    assert f"Run {run.pk} done: best epoch 3, test accuracy 0.9" in text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("format"))
    assert lines[header].split() == ["format", "variant", "status", "size", "latency", "1t", "latency", "2t", "accuracy"]
    table = [line.split() for line in lines[header + 2:]]
    assert ["tflite", "int8", "ok", "9", "B", "2.5", "ms", "1.5", "ms", "0.88"] in table
    assert table[-1][:3] == ["onnx", "float32", "failed"]
    bars = err.getvalue()
    assert "epoch 1/3" in bars and "epoch 3/3" in bars  # one bar per epoch


def test_train_refuses_bad_settings_with_the_fields(fake_worker, classify_version):
    with pytest.raises(CommandError) as refused:
        call_command("train", "--version", str(classify_version.pk), "--task", "detect", "--epochs", "0",
                     stdout=io.StringIO(), stderr=io.StringIO())
    assert "epochs:" in str(refused.value) and "version:" in str(refused.value)
    assert not TrainingRun.objects.exists() and not Job.objects.filter(kind="training.run").exists()


def test_train_takes_a_weights_file_anywhere(fake_worker, classify_version, tmp_path):
    weights = tmp_path / "mine.keras"
    weights.write_bytes(b"k")
    call_command("train", "--version", str(classify_version.pk), "--task", "classify", "--epochs", "1",
                 "--input-size", "64", "--init-weights", str(weights), "--no-progress",
                 stdout=io.StringIO(), stderr=io.StringIO())
    assert TrainingRun.objects.get().init_weights_file == str(weights)


def test_a_failed_run_is_a_command_error(fake_worker, classify_version):
    fake_worker("--fail")
    with pytest.raises(CommandError, match="failed: The training process exited with code 1"):
        call_command("train", "--version", str(classify_version.pk), "--task", "classify", "--epochs", "2",
                     "--input-size", "64", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())
