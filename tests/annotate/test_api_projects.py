from annotate.models import LabelClass, Membership, Project, Role
from annotate.storage import media_path


def test_token_auth_and_project_creation(client, make_user):
    make_user("ana")
    response = client.post("/api/auth/token/", {"username": "ana", "password": "pw-ana"})
    assert response.status_code == 200
    token = response.json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    created = client.post("/api/projects/", {"name": "Birds"}, content_type="application/json", **auth)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["role"] == "owner" and body["created_by"] == "ana"
    assert Membership.objects.get(project_id=body["id"]).role == Role.OWNER
    listed = client.get("/api/projects/", **auth).json()
    assert [p["name"] for p in listed["results"]] == ["Birds"]


def test_wrong_password_gets_400_without_token(client, make_user):
    make_user("ana")
    response = client.post("/api/auth/token/", {"username": "ana", "password": "nope"})
    assert response.status_code == 400


def test_projects_list_only_shows_memberships(api, users, project):
    assert [p["id"] for p in api(users["viewer"]).get("/api/projects/").json()["results"]] == [project.pk]
    assert api(users["outsider"]).get("/api/projects/").json()["results"] == []


def test_owner_adds_changes_and_removes_members(api, users, project, make_user):
    make_user("newbie")
    owner = api(users["owner"])
    url = f"/api/projects/{project.pk}/members/"
    assert owner.post(url, {"username": "newbie", "role": "viewer"}, format="json").status_code == 201
    assert owner.patch(f"{url}newbie/", {"role": "annotator"}, format="json").json()["role"] == "annotator"
    assert owner.delete(f"{url}newbie/").status_code == 204
    assert not Membership.objects.filter(project=project, user__username="newbie").exists()


def test_unknown_user_and_bad_role_are_400(api, users, project):
    owner = api(users["owner"])
    url = f"/api/projects/{project.pk}/members/"
    response = owner.post(url, {"username": "ghost", "role": "viewer"}, format="json")
    assert response.status_code == 400 and "ghost" in response.json()["username"][0]
    assert owner.post(url, {"username": "outsider", "role": "emperor"}, format="json").status_code == 400
    assert not Membership.objects.filter(project=project, user=users["outsider"]).exists()


def test_last_owner_cannot_leave(api, users, project):
    response = api(users["owner"]).delete(f"/api/projects/{project.pk}/members/owner/")
    assert response.status_code == 400
    assert "at least one owner" in response.json()["detail"][0]
    assert Membership.objects.filter(project=project, role=Role.OWNER).count() == 1


def test_labels_with_keypoints(api, users, project):
    owner = api(users["owner"])
    url = f"/api/projects/{project.pk}/labels/"
    body = {"name": "person", "color": "#123456", "keypoint_names": ["left_eye", "right_eye"], "skeleton": [[0, 1]]}
    response = owner.post(url, body, format="json")
    assert response.status_code == 201, response.content
    assert owner.get(url).json()[0]["keypoint_names"] == ["left_eye", "right_eye"]


def test_bad_labels_are_400_and_change_nothing(api, users, project):
    owner = api(users["owner"])
    url = f"/api/projects/{project.pk}/labels/"
    owner.post(url, {"name": "cat"}, format="json")
    duplicate = owner.post(url, {"name": "cat"}, format="json")
    assert duplicate.status_code == 400 and "already has a label" in duplicate.json()["name"][0]
    bad_edge = owner.post(url, {"name": "p", "keypoint_names": ["a", "b"], "skeleton": [[0, 2]]}, format="json")
    assert bad_edge.status_code == 400 and "skeleton" in bad_edge.json()
    assert owner.post(url, {"name": "q", "color": "red"}, format="json").status_code == 400
    assert list(LabelClass.objects.filter(project=project).values_list("name", flat=True)) == ["cat"]


def test_owner_deletes_project_and_its_unshared_files(api, users, project, add_images, django_capture_on_commit_callbacks):
    (image,) = add_images(1)
    assert media_path(image.file).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert api(users["owner"]).delete(f"/api/projects/{project.pk}/").status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not media_path(image.file).exists()
