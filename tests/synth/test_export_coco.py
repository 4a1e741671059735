"""Synthetic images, built into a dataset version and exported by the real COCO writer, load in pycocotools
with the same images, boxes, masks and keypoints that synth stored."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from pycocotools.coco import COCO

from annotate import services as annotate_services
from annotate.geometry import rle_to_mask
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
    stored_total = 0
    for coco_image in coco.loadImgs(coco.getImgIds()):
        image = Image.objects.get(pk=source_of[coco_image["id"] - 1])
        assert (coco_image["width"], coco_image["height"]) == (image.width, image.height)
        stored = list(Annotation.objects.filter(image=image).select_related("label").order_by("id"))
        entries = coco.loadAnns(coco.getAnnIds(imgIds=coco_image["id"]))
        assert len(entries) == len(stored) > 0
        stored_total += len(stored)
        masks = [a for a in stored if a.kind == "mask"]
        boxes = [a for a in stored if a.kind == "box"]
        points = [a for a in stored if a.kind == "keypoints"]
        mask_entries = [e for e in entries if isinstance(e["segmentation"], dict)]
        box_entries = [e for e in entries if e["segmentation"] == [] and "keypoints" not in e]
        point_entries = [e for e in entries if "keypoints" in e]
        assert (len(mask_entries), len(box_entries), len(point_entries)) == (len(masks), len(boxes), len(points))
        # Same masks, pixel for pixel, through pycocotools' own decoder; each mask's box is the stored tight box.
        for ann, entry in zip(masks, mask_entries):
            decoded = coco.annToMask(entry).astype(bool)
            assert np.array_equal(decoded, rle_to_mask(ann.geometry))
            assert entry["area"] == decoded.sum() and entry["category_id"] == category[ann.label.name]
            rows, cols = np.flatnonzero(decoded.any(axis=1)), np.flatnonzero(decoded.any(axis=0))
            tight = [cols[0], rows[0], cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0]]
            assert np.allclose(entry["bbox"], tight)
        for ann, entry in zip(boxes, box_entries):
            geometry = ann.geometry
            assert np.allclose(entry["bbox"], [geometry["x"], geometry["y"], geometry["w"], geometry["h"]])
            assert entry["category_id"] == category[ann.label.name]
        for ann, entry in zip(points, point_entries):
            assert np.allclose(entry["keypoints"], [v for point in ann.geometry["points"] for v in point])
            assert entry["num_keypoints"] == sum(1 for p in ann.geometry["points"] if p[2] > 0)
        # The stored boxes are the tight boxes of the stored masks, in the export too.
        for ann_mask, ann_box in zip(masks, boxes):
            assert ann_mask.attributes["instance"] == ann_box.attributes["instance"]
    assert len(coco.getAnnIds()) == stored_total
    blender_images = [i for i in synthetic if i.meta["generator"] == "blender"]
    assert len(blender_images) == 1 and len(coco.getAnnIds(catIds=[category["person"]])) >= 3
