from collections import Counter

import pytest

from annotate.models import Annotation, Image
from annotate.splits import project_split


def splits_of(project):
    return dict(Image.objects.filter(project=project).values_list("id", "split"))


def test_split_is_deterministic_and_follows_the_ratios(project, add_images):
    add_images(400)
    result = project_split(project=project, train=0.7, val=0.2, test=0.1, seed=3)
    assert result["changed"] == 400
    first = splits_of(project)
    counts = Counter(first.values())
    assert 250 <= counts["train"] <= 310 and 55 <= counts["val"] <= 105 and 20 <= counts["test"] <= 60
    again = project_split(project=project, train=0.7, val=0.2, test=0.1, seed=3, reset=True)
    assert again["changed"] == 0 and splits_of(project) == first
    reseeded = project_split(project=project, train=0.7, val=0.2, test=0.1, seed=4, reset=True)
    assert reseeded["changed"] > 0


def test_adding_images_never_moves_existing_ones(project, add_images):
    add_images(100)
    project_split(project=project, seed=0)
    before = splits_of(project)
    add_images(50, seed=1000)
    for reset in (False, True):  # a pure function of content and seed: stable either way
        project_split(project=project, seed=0, reset=reset)
        after = splits_of(project)
        assert {k: after[k] for k in before} == before
    assert "unassigned" not in set(after.values())


def test_locked_images_are_left_alone(api, users, project, add_images):
    images = add_images(30)
    api(users["owner"]).patch(f"/api/images/{images[0].pk}/", {"split": "test"}, format="json")
    project_split(project=project, train=1.0, val=0.0, test=0.0, reset=True)
    split = splits_of(project)
    assert split[images[0].pk] == "test"
    assert all(split[i.pk] == "train" for i in images[1:])


def test_stratified_split_gives_each_class_its_proportions(project, labels, add_images):
    images = add_images(100)
    # 80 cats, 20 dogs (rare class): stratified 50/25/25 must hold within each class exactly.
    for i, image in enumerate(images):
        label = labels["dog"] if i < 20 else labels["cat"]
        Annotation.objects.create(image=image, label=label, kind="tag", geometry={})
    project_split(project=project, train=0.5, val=0.25, test=0.25, seed=1, stratify=True)
    split = splits_of(project)
    dogs = Counter(split[i.pk] for i in images[:20])
    cats = Counter(split[i.pk] for i in images[20:])
    assert dogs == {"train": 10, "val": 5, "test": 5}
    assert cats == {"train": 40, "val": 20, "test": 20}


def test_stratified_split_keeps_existing_assignments_when_images_are_added(project, labels, add_images):
    images = add_images(40)
    for image in images:
        Annotation.objects.create(image=image, label=labels["cat"], kind="tag", geometry={})
    project_split(project=project, train=0.5, val=0.25, test=0.25, stratify=True)
    before = splits_of(project)
    new = add_images(20, seed=500)
    for image in new:
        Annotation.objects.create(image=image, label=labels["cat"], kind="tag", geometry={})
    project_split(project=project, train=0.5, val=0.25, test=0.25, stratify=True)
    after = splits_of(project)
    assert {k: after[k] for k in before} == before
    assert Counter(after.values()) == {"train": 30, "val": 15, "test": 15}


@pytest.mark.parametrize(
    "body, message",
    [
        ({"train": 0.5, "val": 0.1, "test": 0.1}, "add up to 1"),
        ({"train": 1.5, "val": 0, "test": 0}, "less than or equal"),
        ({"train": -0.5, "val": 1, "test": 0.5}, "greater than or equal"),
    ],
)
def test_bad_ratios_are_400(api, users, project, add_images, body, message):
    add_images(3)
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/split", body, format="json")
    assert response.status_code == 400 and message in str(response.json())
    assert set(splits_of(project).values()) == {"unassigned"}


def test_split_endpoint_is_for_owners(api, users, project, add_images):
    add_images(3)
    assert api(users["annotator"]).post(f"/api/projects/{project.pk}/split", {}, format="json").status_code == 403
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/split", {"seed": 2}, format="json")
    assert response.status_code == 200 and sum(response.json()["counts"].values()) == 3
