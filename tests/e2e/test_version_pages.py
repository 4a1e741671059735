"""The versions page's build form and the version page: counts, image grid with annotations
drawn, downloads (streamed and prepared by a job), access."""

from __future__ import annotations

import json
import zipfile

import pytest
from django.test import Client
from playwright.sync_api import expect

from datasets.models import DatasetVersion
from tests.conftest import annotate, set_split


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def annotated(project, labels, add_images, users):
    images = add_images(4, width=64, height=48)
    for i, image in enumerate(images):
        annotate(image, [(labels["cat"], "box", {"x": 4, "y": 4, "w": 20, "h": 16})]
                 + ([(labels["dog"], "box", {"x": 30, "y": 10, "w": 20, "h": 20})] if i % 2 else []),
                 user=users["owner"])
    set_split(images[:3], "train")
    set_split(images[3:], "val")
    return images


@pytest.mark.django_db
def test_outsider_gets_404_and_viewer_sees_no_build_form(users, project, annotated, build_version):
    version = build_version(project)
    for url in (f"/projects/{project.pk}/versions/", f"/versions/{version.pk}/"):
        assert client_for(users["outsider"]).get(url).status_code == 404
        assert Client().get(url).status_code == 302
    viewer = client_for(users["viewer"])
    page = viewer.get(f"/projects/{project.pk}/versions/").content.decode()
    assert 'data-testid="build-form"' not in page and f'href="/versions/{version.pk}/"' in page
    assert 'data-testid="build-form"' in client_for(users["owner"]).get(f"/projects/{project.pk}/versions/").content.decode()
    detail = viewer.get(f"/versions/{version.pk}/").content.decode()
    assert version.content_hash in detail and 'data-testid="counts"' in detail


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_build_from_the_form_then_browse_and_download_coco(pages, users, project, labels, annotated, api, tmp_path):
    recipe = api(users["owner"]).post(f"/api/projects/{project.pk}/recipes/",
                                      {"name": "gray", "spec": {"transforms": [{"name": "ToGray", "p": 1}]}}, format="json")
    assert recipe.status_code == 201, recipe.content
    page = pages.open(users["owner"], f"/projects/{project.pk}/versions/", ready=False)
    form = page.get_by_test_id("build-form")
    expect(form).to_have_attribute("data-ready", "1")
    # An error of the API shows next to its field, and nothing is built.
    page.get_by_test_id("resize-mode").select_option("letterbox")
    page.get_by_test_id("resize-width").fill("0")
    page.get_by_test_id("resize-height").fill("32")
    page.get_by_test_id("build-submit").click()
    expect(form.locator('[data-error-for="preprocessing"]')).to_contain_text("width")
    assert not DatasetVersion.objects.exists()
    page.get_by_test_id("resize-width").fill("32")
    page.get_by_test_id("build-recipe").select_option(label="gray")
    page.get_by_test_id("build-copies").fill("2")
    page.get_by_test_id("build-name").fill("from the form")
    page.get_by_test_id("build-submit").click()
    result = page.get_by_test_id("build-result")
    expect(result).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("build-progress")).to_have_attribute("data-status", "succeeded")
    version = DatasetVersion.objects.get()
    assert version.status == "ready" and version.params["augment"]["copies"] == 2
    result.click()
    page.wait_for_url(f"**/versions/{version.pk}/")
    root = page.locator("#version-page")
    expect(root).to_have_attribute("data-ready", "1")
    # 3 train images + 2 copies each, 1 val image; cats on every image, dogs on every other.
    counts = page.get_by_test_id("counts")
    expect(counts.locator("tr[data-row=images] td")).to_have_text(["9", "1", "0", "10"])
    expected = version.counts["objects"]
    cat = [expected[s]["cat"] for s in ("train", "val", "test")]
    expect(counts.locator("tr[data-label=cat] td")).to_have_text([str(n) for n in cat] + [str(sum(cat))])
    assert cat == [9, 1, 0]
    expect(page.get_by_test_id("content-hash")).to_have_text(version.content_hash)
    # The grid: the train split's nine images, each with its boxes drawn on the overlay.
    grid = page.get_by_test_id("version-grid")
    expect(grid.get_by_test_id("grid-item")).to_have_count(9)
    drawn = grid.get_by_test_id("grid-overlay").evaluate_all("cs => cs.map(c => Number(c.dataset.drawn))")
    assert sum(drawn) == expected["train"]["cat"] + expected["train"]["dog"] and min(drawn) >= 1
    page.get_by_test_id("split-val").click()
    expect(grid.get_by_test_id("grid-item")).to_have_count(1)
    # Every format's buttons are enabled for this version.
    expect(page.get_by_test_id("download-yolo-images")).to_be_enabled()
    with page.expect_download() as info:
        page.get_by_test_id("download-coco-images").click()
    path = tmp_path / "coco.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        (tmp_path / "train.json").write_bytes(archive.read("annotations/instances_train.json"))
    assert sum(n.startswith("images/train/") and not n.endswith("/") for n in names) == 9
    from pycocotools.coco import COCO

    coco = COCO(str(tmp_path / "train.json"))
    assert len(coco.getImgIds()) == 9 and len(coco.getAnnIds()) == expected["train"]["cat"] + expected["train"]["dog"]
    assert page.errors == []


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_large_export_follows_its_job_then_downloads(pages, users, project, annotated, build_version, settings, tmp_path):
    version = build_version(project)
    settings.EXPORT_JOB_MIN_IMAGES = 2
    page = pages.open(users["viewer"], f"/versions/{version.pk}/", ready=False)
    expect(page.locator("#version-page")).to_have_attribute("data-ready", "1")
    expect(page.get_by_test_id("export-note")).to_contain_text("prepared by a job")
    with page.expect_download() as info:
        page.get_by_test_id("download-yolo-labels").click()
    state = page.get_by_test_id("download-state-yolo")
    expect(state).to_have_attribute("data-state", "downloading")
    assert state.get_attribute("data-job-id")
    path = tmp_path / "yolo.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        assert "data.yaml" in archive.namelist()
    assert page.errors == []


@pytest.mark.django_db
def test_the_formats_api_says_what_a_version_can_be_written_in(users, project, annotated, build_version, api, settings):
    version = build_version(project)
    body = api(users["viewer"]).get(f"/api/versions/{version.pk}/export/formats").json()
    assert [f["format"] for f in body["formats"]] == ["coco", "yolo", "voc", "tfrecord", "imagefolder", "csv"]
    assert all(f["available"] for f in body["formats"]) and body["as_job"] is False
    DatasetVersion.objects.filter(pk=version.pk).update(status="failed")
    body = api(users["viewer"]).get(f"/api/versions/{version.pk}/export/formats").json()
    assert not any(f["available"] for f in body["formats"]) and "ready" in body["formats"][0]["reason"]
    first = api(users["viewer"]).get(f"/api/versions/{version.pk}/images/").json()["results"][0]
    file = api(users["viewer"]).get(f"/api/versions/{version.pk}/images/{first['index']}/file")
    assert file.status_code == 200 and file["Content-Type"].startswith("image/")
    assert api(users["viewer"]).get(f"/api/versions/{version.pk}/images/999/file").status_code == 404
    assert json.loads(json.dumps(body))  # plain JSON
