import math
import threading

import numpy as np
import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotate import services
from annotate.geometry import mask_to_rle, rle_to_mask
from annotate.models import Annotation, Image


def url(image):
    return f"/api/images/{image.pk}/annotations"


def put(client, image, annotations, revision):
    headers = {} if revision is None else {"HTTP_IF_MATCH": f'"{revision}"'}
    return client.put(url(image), {"annotations": annotations}, format="json", **headers)


@pytest.fixture
def image(add_images):
    return add_images(1, width=100, height=80)[0]


def every_kind(labels):
    mask = np.zeros((80, 100), dtype=np.uint8)
    mask[10:20, 30:60] = 1
    return [
        {"label": labels["cat"].pk, "kind": "box", "geometry": {"x": 1, "y": 2, "w": 30, "h": 40}},
        {"label": labels["cat"].pk, "kind": "polygon", "geometry": {"polygons": [[0, 0, 10, 0, 10, 10], [50, 50, 60, 50, 60, 60]]}},
        {"label": labels["dog"].pk, "kind": "mask", "geometry": mask_to_rle(mask)},
        {"label": labels["face"].pk, "kind": "keypoints", "geometry": {"points": [[10, 10, 2], [20, 10, 1], [0, 0, 0]]}},
        {"label": labels["dog"].pk, "kind": "tag", "geometry": {}, "attributes": {"occluded": True}},
    ]


def test_put_replaces_everything_and_bumps_revision(api, users, labels, image):
    client = api(users["annotator"])
    first = client.get(url(image))
    assert first.json() == {"image": image.pk, "revision": 0, "annotations": []}
    assert first["ETag"] == '"0"'
    response = put(client, image, every_kind(labels), 0)
    assert response.status_code == 200, response.content
    assert response.json()["revision"] == 1 and response["ETag"] == '"1"'
    saved = client.get(url(image)).json()["annotations"]
    assert [a["kind"] for a in saved] == ["box", "polygon", "mask", "keypoints", "tag"]
    assert saved[0]["geometry"] == {"x": 1.0, "y": 2.0, "w": 30.0, "h": 40.0}
    assert int(rle_to_mask(saved[2]["geometry"]).sum()) == 300
    assert saved[4]["attributes"] == {"occluded": True}
    image.refresh_from_db()
    assert image.status == "in_progress"
    second = put(client, image, every_kind(labels)[:1], 1)
    assert second.status_code == 200 and len(second.json()["annotations"]) == 1
    assert Annotation.objects.filter(image=image).count() == 1


def test_weak_and_bare_if_match_forms(api, users, labels, image):
    client = api(users["owner"])
    assert client.put(url(image), {"annotations": []}, format="json", HTTP_IF_MATCH='W/"0"').status_code == 200
    assert client.put(url(image), {"annotations": []}, format="json", HTTP_IF_MATCH="1").status_code == 200
    assert client.put(url(image), {"annotations": []}, format="json", HTTP_IF_MATCH="*").status_code == 400


def test_missing_if_match_is_428(api, users, labels, image):
    response = put(api(users["owner"]), image, [], None)
    assert response.status_code == 428 and "If-Match" in response.json()["detail"]


def test_stale_revision_is_412_and_changes_nothing(api, users, labels, image):
    client = api(users["owner"])
    assert put(client, image, every_kind(labels)[:2], 0).status_code == 200
    stale = put(client, image, [], 0)
    assert stale.status_code == 412 and stale.json()["revision"] == 1
    image.refresh_from_db()
    assert image.revision == 1 and Annotation.objects.filter(image=image).count() == 2


@pytest.mark.parametrize(
    "annotation, field, message",
    [
        ({"kind": "box", "geometry": {"x": 0, "y": 0, "w": 500, "h": 5}}, "geometry", "outside"),
        ({"kind": "box", "geometry": {"x": -5, "y": 0, "w": 5, "h": 5}}, "geometry", "outside"),
        ({"kind": "keypoints", "label": "face", "geometry": {"points": [[1, 1, 2]]}}, "geometry", "has 3 keypoints"),
        ({"kind": "mask", "geometry": {"rle": {"size": [80, 100], "counts": "#$%&"}}}, "geometry", "RLE"),
        ({"kind": "polygon", "geometry": {"polygons": [[0, 0, 1, 1]]}}, "geometry", "at least 3"),
    ],
)
def test_bad_geometry_is_400_naming_the_item_and_changes_nothing(api, users, labels, image, annotation, field, message):
    client = api(users["owner"])
    put(client, image, every_kind(labels)[:1], 0)
    label = labels[annotation.pop("label", "cat")].pk
    response = put(client, image, [every_kind(labels)[0], {"label": label, **annotation}], 1)
    assert response.status_code == 400, response.content
    assert message in response.json()[f"annotations[1].{field}"][0]
    image.refresh_from_db()
    assert image.revision == 1 and Annotation.objects.filter(image=image).count() == 1


def test_nan_and_infinity_are_refused(api, users, labels, image):
    client = api(users["owner"])
    body = '{"annotations": [{"label": %d, "kind": "box", "geometry": {"x": NaN, "y": 0, "w": 1, "h": Infinity}}]}'
    response = client.put(url(image), body % labels["cat"].pk, content_type="application/json", HTTP_IF_MATCH='"0"')
    assert response.status_code == 400
    with pytest.raises(Exception, match="finite"):
        services.annotations_validate(
            image=image, items=[{"label": labels["cat"].pk, "kind": "box", "geometry": {"x": math.inf, "y": 0, "w": 1, "h": 1}}]
        )
    assert not Annotation.objects.filter(image=image).exists()


def test_label_from_another_project_is_refused(api, users, labels, image):
    other = services.project_create(name="Other", created_by=users["owner"])
    foreign = services.label_create(project=other, name="cat")
    response = put(api(users["owner"]), image, [{"label": foreign.pk, "kind": "tag", "geometry": {}}], 0)
    assert response.status_code == 400 and "not a label of this project" in response.json()["annotations[0].label"][0]
    assert not Annotation.objects.filter(image=image).exists()


def test_viewer_cannot_put(api, users, labels, image):
    assert put(api(users["viewer"]), image, [], 0).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_puts_from_the_same_revision_exactly_one_wins(users, labels, image):
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def save(box_x: int) -> None:
        client = APIClient()
        client.force_authenticate(users["owner"])
        body = [{"label": labels["cat"].pk, "kind": "box", "geometry": {"x": box_x, "y": 0, "w": 5, "h": 5}}]
        barrier.wait()
        try:
            statuses.append(put(client, image, body, 0).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(x,)) for x in (10, 20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 412]
    image = Image.objects.get(pk=labels["cat"].project.images.get().pk)
    assert image.revision == 1
    assert Annotation.objects.filter(image=image).count() == 1
