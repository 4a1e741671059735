"""Dataset versions: building as a job, frozen content, splits, preprocessing, the step seam."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from annotate import services as annotate_services
from annotate import storage
from annotate.geometry import mask_to_rle, rle_to_mask
from annotate.models import Image
from datasets import pipeline
from datasets.models import DatasetVersion, VersionImage, VersionImmutable
from jobs.models import Job
from jobs.runner import JobError
from tests.conftest import annotate, set_split


def _mask(height: int, width: int, y0: int, y1: int, x0: int, x1: int) -> dict:
    array = np.zeros((height, width), dtype=np.uint8)
    array[y0:y1, x0:x1] = 1
    return mask_to_rle(array)


@pytest.fixture
def annotated(project, labels, add_images):
    """Four 64x48 images: train (box, polygon), train (mask, keypoints), val (box), unassigned (none)."""
    images = add_images(4)
    annotate(images[0], [(labels["cat"], "box", {"x": 4, "y": 6, "w": 20, "h": 10}),
                         (labels["dog"], "polygon", {"polygons": [[30, 5, 50, 5, 40, 30]]})])
    annotate(images[1], [(labels["cat"], "mask", _mask(48, 64, 10, 20, 8, 24), {"iscrowd": 1}),
                         (labels["face"], "keypoints", {"points": [[10, 10, 2], [20, 10, 1], [0, 0, 0]]})])
    annotate(images[2], [(labels["dog"], "box", {"x": 0, "y": 0, "w": 64, "h": 48})])
    set_split(images[:2], "train")
    set_split(images[2:3], "val")
    return images


# --- building through the API ---------------------------------------------------------------
def test_post_builds_a_version_as_a_job(api, users, project, annotated, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(users["owner"]).post(f"/api/projects/{project.pk}/versions/", {"name": "first"}, format="json")
    assert response.status_code == 202, response.content
    assert response.data["kind"] == "export.version_build"
    job = Job.objects.get(pk=response.data["id"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    version = DatasetVersion.objects.get(pk=response.data["version"])
    assert version.status == DatasetVersion.Status.READY
    assert (version.number, version.name, version.image_count, version.annotation_count) == (1, "first", 4, 5)
    assert version.labels[2] == {"name": "face", "color": "#e6194b", "keypoint_names": ["left_eye", "right_eye", "nose"],
                                 "skeleton": [[0, 1], [1, 2]]}
    assert version.counts["objects"]["train"] == {"cat": 2, "dog": 1, "face": 1}
    assert version.counts["objects"]["val"] == {"cat": 0, "dog": 1, "face": 0}
    assert sum(version.counts["images"].values()) == 4
    assert len(version.content_hash) == 64

    detail = api(users["viewer"]).get(f"/api/versions/{version.pk}/")
    assert detail.status_code == 200
    assert detail.data["counts"] == version.counts
    listing = api(users["viewer"]).get(f"/api/projects/{project.pk}/versions/")
    assert [v["number"] for v in listing.data] == [1]
    images = api(users["viewer"]).get(f"/api/versions/{version.pk}/images/?split=val")
    assert images.data["count"] == 1
    assert images.data["results"][0]["annotations"][0]["label"] == "dog"


def test_versions_are_numbered_per_project(project, annotated, build_version):
    assert [build_version(project).number for _ in range(3)] == [1, 2, 3]


def test_only_owners_build_and_outsiders_see_nothing(api, users, project, annotated, build_version):
    for role in ("annotator", "reviewer", "viewer"):
        assert api(users[role]).post(f"/api/projects/{project.pk}/versions/", {}, format="json").status_code == 403
    assert api(users["outsider"]).post(f"/api/projects/{project.pk}/versions/", {}, format="json").status_code == 404
    version = build_version(project)
    assert api(users["outsider"]).get(f"/api/versions/{version.pk}/").status_code == 404
    assert api(users["outsider"]).get(f"/api/versions/{version.pk}/images/").status_code == 404
    assert api(users["outsider"]).get(f"/api/versions/{version.pk}/export?format=coco").status_code == 404
    assert api(users["viewer"]).delete(f"/api/versions/{version.pk}/").status_code == 403
    assert api(None).get(f"/api/versions/{version.pk}/").status_code in (401, 403)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"split": {"mode": "ratios", "train": 0.5, "val": 0.2, "test": 0.2}}, "split"),
        ({"split": {"mode": "sideways"}}, "split"),
        ({"image_sources": ["upload", "stolen"]}, "image_sources"),
        ({"annotation_sources": ["telepathy"]}, "annotation_sources"),
        ({"preprocessing": {"resize": {"mode": "crop", "width": 32, "height": 32}}}, "preprocessing"),
        ({"preprocessing": {"resize": {"mode": "stretch", "width": 0, "height": 32}}}, "preprocessing"),
        ({"image_sources": ["synthetic"]}, "detail"),  # selects nothing
    ],
)
def test_bad_build_requests_are_refused_and_change_nothing(api, users, project, annotated, body, field):
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/versions/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.data
    assert not DatasetVersion.objects.exists()
    assert not Job.objects.filter(kind="export.version_build").exists()


def test_unannotated_images_can_be_left_out(project, annotated, build_version):
    version = build_version(project, include_unannotated=False)
    assert version.image_count == 3


def test_model_predictions_are_left_out_by_default(project, labels, add_images, build_version):
    (image,) = add_images(1)
    annotate(image, [(labels["cat"], "box", {"x": 1, "y": 1, "w": 5, "h": 5}),
                     (labels["dog"], "box", {"x": 2, "y": 2, "w": 5, "h": 5}, {}, "model")])
    assert build_version(project).annotation_count == 1
    assert build_version(project, annotation_sources=["manual", "model"]).annotation_count == 2


# --- frozen and immutable -------------------------------------------------------------------
def test_later_project_edits_never_change_a_built_version(project, labels, annotated, build_version):
    version = build_version(project)
    before = list(VersionImage.objects.filter(version=version).values_list("file", "split", "annotations"))
    image = annotated[0]
    annotate(image, [(labels["dog"], "box", {"x": 1, "y": 1, "w": 2, "h": 2})])
    annotate_services.label_update(label=labels["cat"], name="kitten")
    annotate_services.image_update(image=annotated[2], split="test")
    annotate_services.image_delete(image=annotated[1])
    version.refresh_from_db()
    after = list(VersionImage.objects.filter(version=version).values_list("file", "split", "annotations"))
    assert after == before
    assert version.label_names == ["cat", "dog", "face"]
    for relative, _, _ in after:  # the version's files survive the project image's deletion
        assert storage.media_path(relative).is_file()
    rebuilt = build_version(project)
    assert rebuilt.content_hash != version.content_hash


def test_a_built_version_cannot_be_changed(project, annotated, build_version):
    version = build_version(project)
    version.name = "renamed"
    with pytest.raises(VersionImmutable):
        version.save()
    row = VersionImage.objects.filter(version=version).first()
    row.split = "test"
    with pytest.raises(VersionImmutable):
        row.save()


def test_content_hash_is_reproducible(project, annotated, build_version):
    first, second = build_version(project), build_version(project)
    assert first.content_hash == second.content_hash
    assert build_version(project, split={"mode": "ratios", "seed": 7}).content_hash != first.content_hash


# --- splits ---------------------------------------------------------------------------------
def test_project_splits_are_kept_and_unassigned_images_placed(project, annotated, build_version):
    version = build_version(project)
    by_source = dict(VersionImage.objects.filter(version=version).values_list("source_image_id", "split"))
    assert by_source[annotated[0].pk] == by_source[annotated[1].pk] == "train"
    assert by_source[annotated[2].pk] == "val"
    assert by_source[annotated[3].pk] in ("train", "val", "test")
    assert Image.objects.get(pk=annotated[3].pk).split == "unassigned"  # the project is not touched


def test_ratio_splits_are_recorded_and_deterministic(project, add_images, build_version):
    add_images(40)
    spec = {"mode": "ratios", "train": 0.5, "val": 0.25, "test": 0.25, "seed": 3}
    first, second = build_version(project, split=spec), build_version(project, split=spec)
    assert first.params["split"] == spec
    rows = lambda v: list(VersionImage.objects.filter(version=v).values_list("sha256", "split"))  # noqa: E731
    assert rows(first) == rows(second)
    counts = first.counts["images"]
    assert all(counts[s] > 0 for s in ("train", "val", "test")) and sum(counts.values()) == 40
    assert set(Image.objects.filter(project=project).values_list("split", flat=True)) == {"unassigned"}


# --- preprocessing --------------------------------------------------------------------------
def _only(version) -> VersionImage:
    return VersionImage.objects.get(version=version)


def test_stretch_resize_moves_every_annotation_exactly(project, labels, add_images, build_version):
    (image,) = add_images(1, width=64, height=48)
    annotate(image, [
        (labels["cat"], "box", {"x": 8, "y": 12, "w": 16, "h": 24}),
        (labels["dog"], "polygon", {"polygons": [[0, 0, 64, 0, 32, 48]]}),
        (labels["face"], "keypoints", {"points": [[32, 24, 2], [64, 48, 1], [0, 0, 0]]}),
        (labels["cat"], "mask", _mask(48, 64, 0, 24, 0, 32)),
    ])
    version = build_version(project, preprocessing={"resize": {"mode": "stretch", "width": 128, "height": 24}})
    row = _only(version)
    assert (row.width, row.height) == (128, 24)
    with PILImage.open(storage.media_path(row.file)) as picture:
        assert picture.size == (128, 24)
    box, polygon, keypoints, mask = (a["geometry"] for a in row.annotations)
    assert box == {"x": 16.0, "y": 6.0, "w": 32.0, "h": 12.0}
    assert polygon == {"polygons": [[0.0, 0.0, 128.0, 0.0, 64.0, 24.0]]}
    assert keypoints == {"points": [[64.0, 12.0, 2], [128.0, 24.0, 1], [0.0, 0.0, 0]]}
    decoded = rle_to_mask(mask)
    assert decoded.shape == (24, 128)
    assert decoded[:12, :64].all() and not decoded[12:, :].any() and not decoded[:, 64:].any()
    assert version.params["preprocessing"] == {"auto_orient": True,
                                               "resize": {"mode": "stretch", "width": 128, "height": 24}}


def test_letterbox_resize_scales_uniformly_and_pads(project, labels, add_images, build_version):
    (image,) = add_images(1, width=64, height=32)
    annotate(image, [
        (labels["cat"], "box", {"x": 0, "y": 0, "w": 64, "h": 32}),
        (labels["cat"], "mask", _mask(32, 64, 0, 16, 0, 64)),
    ])
    version = build_version(project, preprocessing={"resize": {"mode": "letterbox", "width": 32, "height": 32}})
    row = _only(version)
    assert (row.width, row.height) == (32, 32)
    box, mask = (a["geometry"] for a in row.annotations)
    # 64x32 -> 32x16, centred vertically: 8 px bars above and below.
    assert box == {"x": 0.0, "y": 8.0, "w": 32.0, "h": 16.0}
    decoded = rle_to_mask(mask)
    assert decoded[8:16, :].all() and decoded.sum() == 8 * 32
    with PILImage.open(storage.media_path(row.file)) as picture:
        pixels = np.asarray(picture.convert("RGB"))
    assert abs(int(pixels[2, 16, 0]) - 114) <= 3  # the bar is the letterbox grey (JPEG tolerance)


# --- the pipeline seam and failures ---------------------------------------------------------
def test_an_extra_step_plugs_into_the_pipeline(project, annotated, build_version, extra_step):
    def duplicate_train(ctx, items):
        for item in items:
            yield item
            if item.split == "train" and ctx.params.get("copies"):
                copy = pipeline.VersionItem(**{**item.__dict__, "source": "augmented", "image_id": None,
                                               "original_name": "copy-" + item.original_name,
                                               "annotations": list(item.annotations)})
                yield copy

    extra_step(duplicate_train)
    version = build_version(project, copies=1)
    assert version.params["copies"] == 1
    rows = list(VersionImage.objects.filter(version=version).values_list("source", "split"))
    originals_in_train = sum(1 for source, split in rows if source == "upload" and split == "train")
    assert originals_in_train >= 2
    assert sum(1 for source, split in rows if source == "augmented" and split == "train") == originals_in_train
    assert version.image_count == 4 + originals_in_train


@pytest.fixture
def extra_step():
    """``extra_step(fn)`` registers ``fn`` as a build step for this test only."""
    names = []

    def register(step):
        names.append(f"test-step-{len(names)}")
        pipeline.step_register(names[-1], step)

    yield register
    for name in names:
        pipeline.step_unregister(name)


def test_a_failing_step_fails_the_job_and_leaves_no_rows(project, annotated, build_version, extra_step):
    def broken(ctx, items):
        for i, item in enumerate(items):
            if i == 2:
                raise JobError("The augmentation recipe is broken.")
            yield item

    extra_step(broken)
    version = build_version(project)
    assert version.status == DatasetVersion.Status.FAILED
    assert "recipe is broken" in version.error
    assert version.job.status == Job.Status.FAILED and "recipe is broken" in version.job.error
    assert not VersionImage.objects.filter(version=version).exists()


def test_file_names_are_unique_by_stem(project, add_images, build_version):
    images = add_images(3)
    Image.objects.filter(pk__in=[i.pk for i in images]).update(original_name="photo.jpg")
    version = build_version(project)
    names = sorted(VersionImage.objects.filter(version=version).values_list("file_name", flat=True))
    assert names == ["photo.jpg", "photo_2.jpg", "photo_3.jpg"]


def test_versions_page_lists_versions_with_download_links(client, users, project, annotated, build_version):
    version = build_version(project, name="for the page")
    client.force_login(users["viewer"])
    page = client.get(f"/projects/{project.pk}/versions/")
    assert page.status_code == 200
    html = page.content.decode()
    # Each version links to its page, whose download table (filled by its script, which follows
    # large exports' jobs: tests/e2e/test_version_pages.py) has the anchor linked to.
    assert "for the page" in html and f'href="/versions/{version.pk}/#downloads"' in html
    version_page = client.get(f"/versions/{version.pk}/")
    assert version_page.status_code == 200 and 'id="downloads"' in version_page.content.decode()
    client.force_login(users["outsider"])
    assert client.get(f"/projects/{project.pk}/versions/").status_code == 404


def test_version_list_has_no_n_plus_one(api, users, project, annotated, build_version, django_assert_max_num_queries):
    for _ in range(4):
        build_version(project)
    with django_assert_max_num_queries(8):
        response = api(users["viewer"]).get(f"/api/projects/{project.pk}/versions/")
    assert response.status_code == 200 and len(response.data) == 4
    assert response.data[0]["job"]["created_by"] == "owner"


def test_a_step_that_makes_invalid_geometry_fails_the_build(project, annotated, build_version, extra_step):
    def out_of_bounds(ctx, items):
        for item in items:
            yield item
            moved = [{**a, "geometry": {"x": 60, "y": 40, "w": 30, "h": 30}} for a in item.annotations if a["kind"] == "box"]
            if moved:
                yield pipeline.VersionItem(**{**item.__dict__, "image_id": None, "source": "augmented",
                                              "original_name": "bad-" + item.original_name, "annotations": moved})

    extra_step(out_of_bounds)
    version = build_version(project)
    assert version.status == DatasetVersion.Status.FAILED
    assert "invalid geometry" in version.error and "outside" in version.error


def test_admin_shows_versions_read_only(client, make_user, project, annotated, build_version):
    version = build_version(project)
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get("/admin/datasets/datasetversion/").status_code == 200
    page = client.get(f"/admin/datasets/datasetversion/{version.pk}/change/")
    assert page.status_code == 200 and b"Save" not in page.content
    assert client.post(f"/admin/datasets/datasetversion/{version.pk}/change/", {"name": "x"}).status_code == 403
    assert client.get("/admin/datasets/datasetversion/add/").status_code == 403


def test_augmented_copies_of_the_train_split_through_the_api(
    api, users, project, labels, add_images, django_capture_on_commit_callbacks
):
    from augment.models import Recipe

    images = add_images(3)
    for image in images:
        annotate(image, [(labels["cat"], "box", {"x": 5, "y": 5, "w": 20, "h": 20})])
    set_split(images[:2], "train")
    set_split(images[2:], "val")
    recipe = Recipe.objects.create(project=project, name="flip", spec={"transforms": [{"name": "HorizontalFlip", "p": 1}]})
    body = {"augment": {"recipe": recipe.pk, "copies": 2, "seed": 1}}
    with django_capture_on_commit_callbacks(execute=True):
        response = api(users["owner"]).post(f"/api/projects/{project.pk}/versions/", body, format="json")
    version = DatasetVersion.objects.get(pk=response.data["version"])
    assert version.status == DatasetVersion.Status.READY, version.error
    rows = list(VersionImage.objects.filter(version=version).values_list("source", "split", "annotations", "width"))
    augmented = [r for r in rows if r[0] == "augmented"]
    assert len(augmented) == 4 and {r[1] for r in augmented} == {"train"}
    for _, _, objects, width in augmented:  # flipped: x' = width - (x + w)
        assert objects[0]["geometry"]["x"] == pytest.approx(width - 25)
    assert version.counts["images"] == {"train": 6, "val": 1, "test": 0}
    assert version.params["augment"] == {"recipe": recipe.pk, "copies": 2, "seed": 1}


def test_a_bad_augment_option_is_refused_when_the_build_is_requested(api, users, project, annotated):
    for options, field in (({"recipe": 999999, "copies": 1}, "augment.recipe"), ({"recipe": "x"}, "augment.recipe"),
                           ({"recipe": 1, "copies": 0}, "augment.copies")):
        response = api(users["owner"]).post(f"/api/projects/{project.pk}/versions/", {"augment": options}, format="json")
        assert response.status_code == 400 and field in response.data, response.data
    assert "999999" in str(api(users["owner"]).post(
        f"/api/projects/{project.pk}/versions/", {"augment": {"recipe": 999999}}, format="json").data)
    assert not DatasetVersion.objects.exists() and not Job.objects.exists()


def test_an_augment_recipe_of_another_project_is_refused_naming_the_field(api, users, project, annotated):
    from annotate import services as annotate_services
    from augment.models import Recipe

    other = annotate_services.project_create(name="Other", created_by=users["owner"])
    foreign = Recipe.objects.create(project=other, name="theirs", spec={"transforms": [{"name": "HorizontalFlip"}]})
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/versions/",
                                        {"augment": {"recipe": foreign.pk, "copies": 1}}, format="json")
    assert response.status_code == 400
    assert "not a recipe of this project" in str(response.data["augment.recipe"])
    assert not DatasetVersion.objects.exists()


# --- materializers ---------------------------------------------------------------------------
def test_the_writers_precompute_their_text_while_freezing(project, annotated, build_version):
    from export.dataset_formats import coco, yolo

    version = build_version(project)
    assert version.materialized == {"coco": coco.FRAGMENT_REVISION, "yolo": yolo.LINES_REVISION}
    texts = dict(VersionImage.objects.filter(version=version, source_image_id=annotated[2].pk).values_list("coco", "yolo"))
    (coco_text, yolo_text), = texts.items()
    assert '"category_id":2' in coco_text and yolo_text.startswith("1 ")  # dog is the second label


def test_a_materializer_whose_plan_the_frozen_kinds_contradict_is_not_used(project, annotated, build_version, extra_step):
    """Planned from the selection's kinds; a step that drops every mask changes the plan's key."""

    class KindsText:
        name, revision = "yolo", 99

        def key(self, version, kinds):
            return "mask" in kinds

        def row_text(self, version, kinds):
            return lambda annotations, **_: "planned"

    def drop_masks(ctx, items):
        for item in items:
            item.annotations = [a for a in item.annotations if a["kind"] != "mask"]
            yield item

    from export.dataset_formats import yolo

    extra_step(drop_masks)
    pipeline.materializer_register(KindsText())
    try:
        version = build_version(project)
    finally:
        pipeline.materializer_register(yolo.Materializer())
    assert version.status == DatasetVersion.Status.READY
    from export.dataset_formats import coco

    assert "yolo" not in version.materialized and version.materialized["coco"] == coco.FRAGMENT_REVISION
    assert "mask" not in version.counts["kinds"]
