"""``manage.py synth``: runs a job in-process through the same checks and services as the API."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotate.models import Annotation, Image
from jobs.models import Job
from synth.models import SynthJob

from .builders import cutpaste_assets

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("synth", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_cutpaste_job_from_the_command_line(users, project, labels):
    cutout, background = cutpaste_assets(project, labels["cat"], users["owner"])
    out, err = run(project.name, "--generator", "cutpaste", "--count", "2", "--resolution", "96x72", "--seed", "5",
                   "--class", f"cat={cutout.pk}", "--background", str(background.pk))
    synth_job = SynthJob.objects.get()
    assert synth_job.job.status == Job.Status.SUCCEEDED and synth_job.created_by == users["owner"]
    assert "2 images stored" in out and "2/2" in err  # the tqdm bar reached the end
    images = Image.objects.filter(project=project, source=Image.Source.SYNTHETIC)
    assert images.count() == 2 and {(i.width, i.height) for i in images} == {(96, 72)}
    masks = Annotation.objects.filter(image__in=images, kind=Annotation.Kind.MASK)
    boxes = Annotation.objects.filter(image__in=images, kind=Annotation.Kind.BOX)
    assert masks.count() == boxes.count() >= 2 and {a.label_id for a in masks} == {labels["cat"].pk}
    assert sorted(synth_job.job.result["image_ids"]) == sorted(images.values_list("pk", flat=True))


def test_spec_file_with_overrides(users, project, labels, tmp_path):
    cutout, background = cutpaste_assets(project, labels["cat"], users["owner"])
    spec = {"generator": "cutpaste", "count": 5, "resolution": [64, 64], "classes": [{"label": labels["cat"].pk,
            "assets": [cutout.pk]}], "backgrounds": [background.pk], "blending": ["none"]}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    run(str(project.pk), "--spec", str(path), "--count", "1", "--user", "annotator")
    synth_job = SynthJob.objects.get()
    assert synth_job.spec["count"] == 1 and synth_job.spec["blending"] == ["none"]
    assert synth_job.created_by == users["annotator"]
    assert Image.objects.filter(source=Image.Source.SYNTHETIC).count() == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--generator", "blender", "--count", "1000000000", "--class", "cat=builtin:cube"], "count"),
        (["--generator", "blender", "--resolution", "0x96", "--class", "cat=builtin:cube"], "resolution"),
        (["--generator", "blender", "--class", "cat="], "empty asset list"),
        (["--generator", "blender", "--class", "cat=builtin:teapot"], "builtin:teapot"),
        (["--generator", "blender", "--class", "unicorn=builtin:cube"], "no label named 'unicorn'"),
        (["--resolution", "big"], "640x480"),
    ],
)
def test_bad_spec_is_a_clear_error_and_creates_nothing(users, project, labels, args, message):
    with pytest.raises(CommandError, match=message):
        run(str(project.pk), *args)
    assert not SynthJob.objects.exists() and not Job.objects.exists()


def test_unknown_project(db):
    with pytest.raises(CommandError, match="No project"):
        run("Nope")


def test_unreadable_spec_file(project, tmp_path):
    (tmp_path / "s.json").write_text("{not json")
    with pytest.raises(CommandError, match="Cannot read the spec file"):
        run(str(project.pk), "--spec", str(tmp_path / "s.json"))


def test_blender_job_from_the_command_line(users, project, labels):
    out, _ = run(str(project.pk), "--generator", "blender", "--count", "1", "--resolution", "32x32", "--samples", "1",
                 "--class", "dog=builtin:cube", "--seed", "2")
    image = Image.objects.get(source=Image.Source.SYNTHETIC)
    assert (image.width, image.height) == (32, 32) and image.meta["generator"] == "blender"
    assert Annotation.objects.filter(image=image, kind=Annotation.Kind.MASK, label=labels["dog"]).exists()
    assert "1 image stored" in out
