"""A JSON body nested too deeply is the caller's mistake: a 400 with a sentence, on every endpoint."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

DEEP = 50_000


def nested(depth: int, inner: str = "") -> str:
    return "[" * depth + inner + "]" * depth


def assert_too_deep(response) -> None:
    assert response.status_code == 400, response.content[:300]
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.parametrize("depth", [DEEP, 150])  # past the decoder's recursion, and past the parser's limit
def test_annotations_put(api, users, project, add_images, depth):
    [image] = add_images(1)
    response = api(users["annotator"]).put(
        f"/api/images/{image.pk}/annotations", data=f'{{"annotations": {nested(depth)}}}',
        content_type="application/json", HTTP_IF_MATCH='"0"',
    )
    assert_too_deep(response)


def test_project_create(api, users):
    body = '{"name": "Deep", "description": ' + nested(DEEP) + "}"
    assert_too_deep(api(users["owner"]).post("/api/projects/", data=body, content_type="application/json"))


def test_an_endpoint_naming_drf_own_json_parser(api, users, project):
    response = api(users["owner"]).post(
        f"/api/projects/{project.pk}/synth-jobs/", data='{"spec": ' + nested(DEEP) + "}", content_type="application/json"
    )
    assert_too_deep(response)


def test_bodies_of_ordinary_depth_still_parse(api, users, project, labels, add_images):
    [image] = add_images(1)
    attributes: dict = {"level": 0}
    for level in range(1, 40):
        attributes = {"level": level, "inner": attributes}
    body = {"annotations": [{"label": labels["cat"].pk, "kind": "tag", "geometry": {}, "attributes": attributes}]}
    response = api(users["annotator"]).put(
        f"/api/images/{image.pk}/annotations", body, format="json", HTTP_IF_MATCH='"0"'
    )
    assert response.status_code == 200, response.content[:300]
