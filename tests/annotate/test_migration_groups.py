"""The migration that adds instance groups rebuilds them for synthetic images stored before."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from annotate.geometry import mask_to_rle

BEFORE = [("annotate", "0002_image_content_not_unique")]
AFTER = [("annotate", "0003_annotation_group")]


def _mask(y0: int, y1: int, x0: int, x1: int) -> dict:
    array = np.zeros((40, 60), dtype=np.uint8)
    array[y0:y1, x0:x1] = 1
    return mask_to_rle(array)


@pytest.mark.django_db(transaction=True)
def test_groups_are_rebuilt_from_instance_ids_or_matching_boxes(capsys):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Project, Label, Image, Annotation = (old.get_model("annotate", n) for n in ("Project", "LabelClass", "Image", "Annotation"))
    project = Project.objects.create(name="Old synth")
    cat = Label.objects.create(project=project, name="cat")
    person = Label.objects.create(project=project, name="person", keypoint_names=["head", "foot"])

    def image(name: str, source: str = "synthetic"):
        return Image.objects.create(project=project, sha256=name * 64, file=f"images/{name}.png", mime_type="image/png",
                                    size_bytes=1, width=60, height=40, phash="0" * 16, source=source, original_name=name)

    # A generator's image: mask, box and keypoints per object, tied by their instance attribute.
    rendered = image("a")
    for instance, (y0, y1, x0, x1) in ((1, (2, 10, 3, 20)), (2, (20, 30, 30, 50))):
        mask = _mask(y0, y1, x0, x1)
        for kind, geometry in (("mask", mask), ("box", {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}),
                               ("keypoints", {"points": [[x0 + 1, y0 + 1, 2], [x0 + 2, y1 - 1, 2]]})):
            Annotation.objects.create(image=rendered, label=person, kind=kind, geometry=geometry,
                                      attributes={"instance": instance}, source="synthetic")
    # An older image without instance ids: a mask and a box agreeing within 1 px are one object.
    older = image("b")
    Annotation.objects.create(image=older, label=cat, kind="mask", geometry=_mask(5, 15, 5, 25), source="synthetic")
    Annotation.objects.create(image=older, label=cat, kind="box", geometry={"x": 5.5, "y": 4.6, "w": 20, "h": 10}, source="synthetic")
    Annotation.objects.create(image=older, label=cat, kind="box", geometry={"x": 40, "y": 20, "w": 10, "h": 10}, source="synthetic")
    # An uploaded image is the annotators' business: left alone.
    uploaded = image("c", source="upload")
    Annotation.objects.create(image=uploaded, label=cat, kind="mask", geometry=_mask(5, 15, 5, 25))
    Annotation.objects.create(image=uploaded, label=cat, kind="box", geometry={"x": 5, "y": 5, "w": 20, "h": 10})

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Annotation, Image = new.get_model("annotate", "Annotation"), new.get_model("annotate", "Image")

    def groups(img) -> list:
        return list(Annotation.objects.filter(image_id=img.pk).order_by("id").values_list("group", flat=True))

    assert groups(rendered) == [1, 1, 1, 2, 2, 2]
    assert groups(older) == [1, 1, None]
    assert groups(uploaded) == [None, None]
    revisions = dict(Image.objects.values_list("original_name", "revision"))
    assert revisions == {"a": 1, "b": 1, "c": 0}  # an editor holding the old revision gets a 412
    out = capsys.readouterr().out
    assert "3 objects grouped on 2 of 2 synthetic images (1 by their instance ids, 1 by mask and box" in out
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
