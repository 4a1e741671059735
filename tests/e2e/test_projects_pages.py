"""The project management pages in the browser: creating, renaming and deleting a project; members
and their roles; labels with colours, keypoint names, a skeleton drawn on the diagram and the
left/right pairs; and what a viewer does not see."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from annotate.models import Annotation, LabelClass, Membership, Project
from tests.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def ready(page, root: str):
    page.wait_for_selector(f"#{root}[data-ready='1']")
    return page


def test_create_rename_and_delete_a_project(pages, users, live_server):
    page = pages.open(users["viewer"], "/", ready=False)
    page.wait_for_selector("#new-project-form[data-ready='1']")
    page.get_by_test_id("new-project-name").fill("Birds")
    page.get_by_test_id("new-project-description").fill("Garden birds")
    page.get_by_test_id("new-project-submit").click()
    page.wait_for_url(re.compile(r"/projects/\d+/$"))
    project = Project.objects.get(name="Birds")
    assert page.url.endswith(f"/projects/{project.pk}/")
    assert Membership.objects.get(project=project, user=users["viewer"]).role == "owner"
    expect(page.get_by_test_id("hub-settings")).to_be_visible()

    page.get_by_test_id("hub-settings").click()
    ready(page, "project-settings")
    expect(page.get_by_test_id("breadcrumbs")).to_have_text("Projects › Birds › Settings")
    page.get_by_test_id("project-name").fill("Garden birds")
    page.get_by_test_id("project-description").fill("Birds at the feeder")
    page.get_by_test_id("project-save").click()
    expect(page.get_by_test_id("project-saved")).to_have_text("Saved.")
    project.refresh_from_db()
    assert (project.name, project.description) == ("Garden birds", "Birds at the feeder")
    expect(page.get_by_test_id("breadcrumbs")).to_have_text("Projects › Garden birds › Settings")

    delete = page.get_by_test_id("delete-submit")
    expect(delete).to_be_disabled()
    page.get_by_test_id("delete-confirm").fill("Birds")  # the old name does not count
    expect(delete).to_be_disabled()
    page.get_by_test_id("delete-confirm").fill("Garden birds")
    expect(delete).to_be_enabled()
    delete.click()
    page.wait_for_url(live_server.url + "/")
    assert not Project.objects.filter(pk=project.pk).exists()
    assert page.errors == []


def test_members_add_change_remove_and_api_errors(pages, users, project):
    page = ready(pages.open(users["owner"], f"/projects/{project.pk}/members/", ready=False), "members-page")
    expect(page.get_by_test_id("member-row")).to_have_count(4)
    expect(page.get_by_test_id("breadcrumbs")).to_have_text("Projects › Cats › Members")
    page.get_by_test_id("member-role").select_option("reviewer")
    expect(page.get_by_test_id("member-role-help")).to_contain_text("accept or reject")

    page.get_by_test_id("member-username").fill("nobody")
    page.get_by_test_id("member-add").click()
    expect(page.get_by_test_id("member-add-error")).to_have_text("username: No user is called 'nobody'.")

    page.get_by_test_id("member-username").fill("outsider")
    page.get_by_test_id("member-add").click()
    row = page.locator("[data-testid=member-row][data-username=outsider]")
    expect(row).to_be_visible()
    expect(page.get_by_test_id("member-add-error")).to_have_text("")
    assert Membership.objects.get(project=project, user=users["outsider"]).role == "reviewer"

    row.get_by_test_id("member-row-role").select_option("annotator")
    expect(row.locator(".role-help")).to_contain_text("add images")
    wait_for(lambda: Membership.objects.get(project=project, user=users["outsider"]).role == "annotator", timeout=10)

    # The last owner may not step down: the API's sentence, and the select goes back.
    own = page.locator("[data-testid=member-row][data-username=owner]")
    own.get_by_test_id("member-row-role").select_option("viewer")
    expect(page.get_by_test_id("member-error")).to_contain_text("at least one owner")
    expect(own.get_by_test_id("member-row-role")).to_have_value("owner")

    row.get_by_test_id("member-remove").click()
    expect(row).to_have_count(0)
    assert not Membership.objects.filter(project=project, user=users["outsider"]).exists()
    assert page.errors == []


def test_viewer_sees_no_write_controls(pages, users, project, labels):
    members = ready(pages.open(users["viewer"], f"/projects/{project.pk}/members/", ready=False), "members-page")
    expect(members.get_by_test_id("member-row")).to_have_count(4)
    for testid in ("member-add-form", "member-remove"):
        expect(members.get_by_test_id(testid)).to_have_count(0)
    expect(members.locator("select")).to_have_count(0)
    expect(members.get_by_test_id("role-table")).to_be_visible()

    page = ready(pages.open(users["viewer"], f"/projects/{project.pk}/labels/", ready=False), "labels-page")
    expect(page.get_by_test_id("label-card")).to_have_count(3)
    for testid in ("label-create-form", "label-delete", "label-color", "label-rename", "kp-save", "kp-add", "kp-remove"):
        expect(page.get_by_test_id(testid)).to_have_count(0)
    face = page.locator("[data-testid=label-card][data-name=face]")
    expect(face.get_by_test_id("kp-edge")).to_have_count(2)
    face.get_by_test_id("kp-edge").first.click()  # read-only: nothing happens
    expect(face.get_by_test_id("kp-edge")).to_have_count(2)
    expect(face.get_by_test_id("mirror-pair")).to_have_text(["left_eye ↔ right_eye"])

    settings = pages.open(users["viewer"], f"/projects/{project.pk}/settings/", ready=False)
    expect(settings.locator("body")).not_to_contain_text("Delete this project")
    assert page.errors == [] and members.errors == []


def test_keypoint_label_names_skeleton_and_mirror_pairs(pages, users, project, api):
    page = ready(pages.open(users["owner"], f"/projects/{project.pk}/labels/", ready=False), "labels-page")
    expect(page.get_by_test_id("breadcrumbs")).to_have_text("Projects › Cats › Labels")
    page.get_by_test_id("label-create-name").fill("person")
    page.get_by_test_id("label-create-keypoints").check()
    page.get_by_test_id("label-create").click()
    card = page.locator("[data-testid=label-card][data-name=person]")
    for name in ("nose", "left_eye", "right_eye", "l_ankle"):
        card.get_by_test_id("kp-new-name").fill(name)
        card.get_by_test_id("kp-add").click()
    card.get_by_test_id("kp-new-name").fill("r_ankle")
    card.get_by_test_id("kp-new-name").press("Enter")
    expect(card.get_by_test_id("kp-point")).to_have_count(5)
    # Reorder: r_ankle up one (before l_ankle), then remove and re-add it at the end.
    card.get_by_test_id("kp-up").nth(4).click()
    expect(card.get_by_test_id("kp-name").nth(3)).to_contain_text("r_ankle")
    card.get_by_test_id("kp-down").nth(3).click()
    expect(card.get_by_test_id("kp-name").nth(4)).to_contain_text("r_ankle")

    def point(i):
        return card.get_by_test_id("kp-point").nth(i).locator("circle")

    point(0).click()
    expect(card.get_by_test_id("kp-point").nth(0)).to_have_class(re.compile("selected"))
    point(1).click()  # nose — left_eye
    point(0).click()
    point(2).click()  # nose — right_eye
    point(3).click()
    point(4).click()  # l_ankle — r_ankle
    expect(card.get_by_test_id("kp-edge")).to_have_count(3)
    card.locator("[data-testid=kp-edge][data-edge='3-4']").click()  # remove it again
    expect(card.get_by_test_id("kp-edge")).to_have_count(2)
    card.get_by_test_id("kp-save").click()
    expect(card.get_by_test_id("kp-state")).to_have_text("Saved.")
    expect(card.get_by_test_id("mirror-pair")).to_have_text(["left_eye ↔ right_eye", "l_ankle ↔ r_ankle"])

    label = LabelClass.objects.get(project=project, name="person")
    stored = api(users["viewer"]).get(f"/api/projects/{project.pk}/labels/{label.pk}/").json()
    assert stored["keypoint_names"] == ["nose", "left_eye", "right_eye", "l_ankle", "r_ankle"]
    assert stored["skeleton"] == [[0, 1], [0, 2]]
    assert stored["mirror_pairs"] == [[1, 2], [3, 4]]

    page.reload()
    ready(page, "labels-page")
    card = page.locator("[data-testid=label-card][data-name=person]")
    expect(card.get_by_test_id("kp-edge")).to_have_count(2)
    expect(card.locator("[data-testid=kp-edge][data-edge='0-2']")).to_have_count(1)
    expect(card.get_by_test_id("mirror-pair")).to_have_text(["left_eye ↔ right_eye", "l_ankle ↔ r_ankle"])
    # Removing a point drops its lines and renumbers the rest.
    card.get_by_test_id("kp-remove").nth(1).click()
    expect(card.get_by_test_id("kp-edge")).to_have_count(1)
    expect(card.locator("[data-testid=kp-edge][data-edge='0-1']")).to_have_count(1)
    assert page.errors == []


def test_recolour_and_delete_a_label_and_the_keypoint_count_rule(pages, users, project, labels, add_images):
    image = add_images(1, width=100, height=80)[0]
    for _ in range(3):
        Annotation.objects.create(image=image, label=labels["cat"], kind="box", geometry={"x": 1, "y": 1, "w": 5, "h": 5})
    Annotation.objects.create(image=image, label=labels["face"], kind="keypoints",
                              geometry={"points": [[1, 1, 2], [5, 1, 2], [3, 4, 2]]})
    page = ready(pages.open(users["owner"], f"/projects/{project.pk}/labels/", ready=False), "labels-page")
    cat = page.locator(f"[data-testid=label-card][data-label-id='{labels['cat'].pk}']")
    expect(cat.get_by_test_id("label-count")).to_have_text("3 annotations")
    cat.get_by_test_id("label-color").fill("#123abc")
    expect(cat.get_by_test_id("label-error")).to_have_text("")
    wait_for(lambda: LabelClass.objects.get(pk=labels["cat"].pk).color == "#123abc", timeout=10)

    cat.get_by_test_id("label-name").fill("kitten")
    cat.get_by_test_id("label-rename").click()
    wait_for(lambda: LabelClass.objects.get(pk=labels["cat"].pk).name == "kitten", timeout=10)

    cat.get_by_test_id("label-delete").click()
    expect(cat.get_by_test_id("label-delete-message")).to_contain_text("removes its 3 annotations")
    cat.get_by_test_id("label-delete-no").click()
    expect(cat.get_by_test_id("label-delete-confirm")).to_be_hidden()
    assert LabelClass.objects.filter(pk=labels["cat"].pk).exists()
    cat.get_by_test_id("label-delete").click()
    cat.get_by_test_id("label-delete-yes").click()
    expect(page.get_by_test_id("label-card")).to_have_count(2)
    assert not LabelClass.objects.filter(pk=labels["cat"].pk).exists()
    assert not Annotation.objects.filter(kind="box").exists()

    face = page.locator("[data-testid=label-card][data-name=face]")
    face.get_by_test_id("kp-new-name").fill("chin")
    face.get_by_test_id("kp-add").click()
    face.get_by_test_id("kp-save").click()
    expect(face.get_by_test_id("label-error")).to_contain_text("the number of keypoints cannot change")
    expect(face.get_by_test_id("kp-state")).to_have_text("Not saved.")
    assert LabelClass.objects.get(pk=labels["face"].pk).keypoint_names == ["left_eye", "right_eye", "nose"]
    assert page.errors == []
