"""Synthetic images, built into a dataset version and exported by the real COCO writer, load in pycocotools
with the same images, boxes, masks and keypoints that synth stored: one entry per rendered or pasted
object (its box, mask and keypoints are one instance group)."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from annotate import services as annotate_services
from annotate.geometry import objects_of, rle_to_mask
from annotate.models import Annotation, Image
from datasets import services as dataset_services
from datasets.models import DatasetVersion, VersionImage
from export import services as export_services
from synth import services

from .builders import CHARACTER, blender_spec, cutpaste_assets

pytestmark = pytest.mark.django_db


def coco_of(version: DatasetVersion, tmp_path) -> COCO:
    """All splits of the version's COCO export merged into one pycocotools index."""
    archive = zipfile.ZipFile(io.BytesIO(b"".join(export_services.export_chunks(version=version, fmt="coco",
                                                                                 with_images=False))))
    merged = {"images": [], "annotations": [], "categories": None}
    for name in archive.namelist():
        if name.startswith("annotations/instances_") and name.endswith(".json"):
            part = json.loads(archive.read(name))
            merged["images"] += part["images"]
            merged["annotations"] += part["annotations"]
            merged["categories"] = part["categories"]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(merged))
    return COCO(str(path))


def test_synthetic_images_export_to_coco_that_pycocotools_reads(
    users, project, labels, tmp_path, django_capture_on_commit_callbacks
):
    owner = users["owner"]
    person = annotate_services.label_create(project=project, name="person", keypoint_names=CHARACTER)
    cutout, background = cutpaste_assets(project, labels["cat"], owner)
    cutpaste = {"generator": "cutpaste", "count": 3, "resolution": [96, 72], "seed": 11, "objects_per_image": [1, 3],
                "classes": [{"label": labels["cat"].pk, "assets": [cutout.pk]}], "backgrounds": [background.pk]}
    blender = blender_spec(person.pk, count=1, resolution=[48, 48], samples=1)
    with django_capture_on_commit_callbacks(execute=True):
        jobs = [services.synth_job_create(project=project, spec=spec, user=owner) for spec in (cutpaste, blender)]
    for job in jobs:
        job.job.refresh_from_db()
        assert job.job.status == "succeeded", job.job.error
    synthetic = Image.objects.filter(project=project, source=Image.Source.SYNTHETIC)
    assert synthetic.count() == 4

    with django_capture_on_commit_callbacks(execute=True):
        version = dataset_services.version_create(project=project, created_by=owner,
                                                 params={"image_sources": ["synthetic"]})
    version.refresh_from_db()
    assert version.status == DatasetVersion.Status.READY, version.error
    coco = coco_of(version, tmp_path)

    assert len(coco.getImgIds()) == 4
    category = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}
    assert coco.loadCats(category["person"])[0]["keypoints"] == CHARACTER
    source_of = dict(VersionImage.objects.filter(version=version).values_list("index", "source_image_id"))
    objects_total = 0
    for coco_image in coco.loadImgs(coco.getImgIds()):
        image = Image.objects.get(pk=source_of[coco_image["id"] - 1])
        assert (coco_image["width"], coco_image["height"]) == (image.width, image.height)
        stored = [
            {"label": a.label.name, "kind": a.kind, "geometry": a.geometry, "group": a.group}
            for a in Annotation.objects.filter(image=image).select_related("label").order_by("id")
        ]
        objects = objects_of(stored)
        entries = coco.loadAnns(coco.getAnnIds(imgIds=coco_image["id"]))
        # Exactly one entry per rendered or pasted object, with every geometry of it.
        assert len(entries) == len(objects) > 0
        assert all(len(o.parts) >= 2 and o.box and o.outline for o in objects)
        objects_total += len(objects)
        for obj, entry in zip(objects, entries):
            assert entry["category_id"] == category[obj.label]
            decoded = coco.annToMask(entry).astype(bool)  # pycocotools' own decoder
            assert np.array_equal(decoded, rle_to_mask(obj.outline["geometry"]))
            assert entry["area"] == decoded.sum()
            box = obj.box["geometry"]
            assert entry["bbox"] == [box["x"], box["y"], box["w"], box["h"]]
            rows, cols = np.flatnonzero(decoded.any(axis=1)), np.flatnonzero(decoded.any(axis=0))
            assert np.allclose(entry["bbox"], [cols[0], rows[0], cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0]])
            if obj.keypoints is not None:
                assert np.allclose(entry["keypoints"], [v for point in obj.keypoints["geometry"]["points"] for v in point])
                assert entry["num_keypoints"] == sum(1 for p in obj.keypoints["geometry"]["points"] if p[2] > 0)
            else:
                assert "keypoints" not in entry
    assert len(coco.getAnnIds()) == objects_total
    assert sum(sum(per_class.values()) for per_class in version.counts["objects"].values()) == objects_total
    blender_images = [i for i in synthetic if i.meta["generator"] == "blender"]
    people = coco.loadAnns(coco.getAnnIds(catIds=[category["person"]]))
    assert len(blender_images) == 1 and len(people) == 1 and "keypoints" in people[0]
    # The export scored against itself: a perfect score for boxes, masks and keypoints.
    for iou_type, categories in (("bbox", None), ("segm", None), ("keypoints", [category["person"]])):
        detections = coco.loadRes([{**a, "score": 1.0} for a in coco.loadAnns(coco.getAnnIds(catIds=categories or []))])
        evaluation = COCOeval(coco, detections, iou_type)
        if categories:
            evaluation.params.catIds = categories
            evaluation.params.kpt_oks_sigmas = np.full(len(CHARACTER), 0.05)  # not COCO's 17 person points
        evaluation.evaluate()
        evaluation.accumulate()
        with contextlib.redirect_stdout(io.StringIO()):
            evaluation.summarize()
        assert evaluation.stats[0] == pytest.approx(1.0), iou_type
