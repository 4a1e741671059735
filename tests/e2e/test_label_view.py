"""The labeling page's server side (no browser): access, configuration, filters, links."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from annotate import services

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def config_of(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="annotator-config" type="application/json">') + len(
        '<script id="annotator-config" type="application/json">'
    )
    return json.loads(html[start: html.index("</script>", start)])


def url(image, query=""):
    return f"/projects/{image.project_id}/images/{image.pk}/label" + (f"?{query}" if query else "")


def test_anonymous_is_sent_to_log_in(add_images):
    image = add_images(1)[0]
    response = Client().get(url(image))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_outsider_and_wrong_project_get_404(users, project, add_images):
    image = add_images(1)[0]
    assert client_for(users["outsider"]).get(url(image)).status_code == 404
    other = services.project_create(name="Other", created_by=users["annotator"])
    response = client_for(users["annotator"]).get(f"/projects/{other.pk}/images/{image.pk}/label")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "role, annotate, review", [("owner", True, True), ("annotator", True, False), ("reviewer", True, True), ("viewer", False, False)]
)
def test_config_follows_the_role(users, project, add_images, role, annotate, review):
    image = add_images(1, width=64, height=48)[0]
    response = client_for(users[role]).get(url(image))
    assert response.status_code == 200
    config = config_of(response)
    assert (config["canAnnotate"], config["canReview"]) == (annotate, review)
    assert (config["width"], config["height"], config["imageId"]) == (64, 48, image.pk)
    assert config["api"]["annotations"] == f"/api/images/{image.pk}/annotations"
    html = response.content.decode()
    assert 'data-testid="annotator-stage"' in html and 'data-testid="annotator-image"' in html
    assert ('data-testid="review-panel"' in html) == review


def test_previous_and_next_follow_the_filter(users, project, add_images):
    a, b, c, d = add_images(4)
    for image in (a, c, d):
        services.image_update(image=image, split="train")
    services.image_update(image=b, split="val")
    config = config_of(client_for(users["annotator"]).get(url(c, "split=train")))
    assert config["previousUrl"] == url(a, "split=train")
    assert config["nextUrl"] == url(d, "split=train")
    config = config_of(client_for(users["annotator"]).get(url(a, "split=train")))
    assert config["previousUrl"] is None and config["nextUrl"] == url(c, "split=train")
    config = config_of(client_for(users["annotator"]).get(url(a)))
    assert config["nextUrl"] == url(b)


def test_rejected_filter_in_the_grid_the_label_page_and_the_api(users, project, add_images, api):
    a, b, c = add_images(3)
    services.image_review(image=b, accept=False, comment="Missing boxes.")
    services.image_review(image=c, accept=False, comment="Wrong label.")
    services.image_review(image=c, accept=True)
    owner = client_for(users["owner"])
    grid = owner.get(f"/projects/{project.pk}/?rejected=1").content.decode()
    assert f'data-image-id="{b.pk}"' in grid and f'data-image-id="{a.pk}"' not in grid
    assert f'data-image-id="{c.pk}"' not in grid
    assert f'href="/projects/{project.pk}/images/{b.pk}/label?rejected=1"' in grid
    config = config_of(owner.get(url(b, "rejected=1")))
    assert config["previousUrl"] is None and config["nextUrl"] is None
    listed = api(users["annotator"]).get(f"/api/projects/{project.pk}/images/?rejected=true").json()["results"]
    assert [row["id"] for row in listed] == [b.pk]
    assert listed[0]["review_comment"] == "Missing boxes."
    response = api(users["annotator"]).get(f"/api/projects/{project.pk}/images/?rejected=maybe")
    assert response.status_code == 400 and "rejected" in response.json()


def test_grid_tiles_link_to_the_labeling_page_keeping_the_filter(users, project, add_images):
    image = add_images(1)[0]
    html = client_for(users["viewer"]).get(f"/projects/{project.pk}/?status=new&page=1").content.decode()
    assert f'href="/projects/{project.pk}/images/{image.pk}/label?status=new"' in html
    assert 'data-testid="image-grid"' in html and 'data-testid="split-counts"' in html
