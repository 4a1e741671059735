"""Every ``access_*_by_id`` helper: one query for lookup and permission check, 404 for a user who
may not see the project (or a missing id), 403 with the capability's sentence for a role that
lacks it, ``user_role`` set, and what the views read next already loaded."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from annotate.access import DENIED_MESSAGES, access_image_by_id, access_project_by_id
from annotate.permissions import Can
from augment.models import Recipe
from augment.selectors import access_recipe_by_id
from datasets.selectors import access_version_by_id
from datasets.services import version_build, version_create
from jobs.selectors import access_job_by_id, job_can_cancel
from jobs.services import job_create
from synth.selectors import access_asset_by_id, access_synth_job_by_id
from synth.services import asset_upload, synth_job_create
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects(users, project, labels, add_images):
    image = add_images(1)[0]
    version = version_create(project=project, created_by=users["owner"], params={"include_unannotated": True})
    version_build(version=version)
    background = asset_upload(project=project, kind="background", name="bg.jpg", data=image_bytes(seed=5),
                              label=None, user=users["owner"])
    synth_job = synth_job_create(project=project, user=users["owner"], enqueue=False, spec={
        "generator": "blender", "count": 1, "resolution": [64, 48], "backgrounds": [background.pk],
        "classes": [{"label": labels["cat"].pk, "assets": ["builtin:cube"]}]})
    return {
        "project": project,
        "image": image,
        "version": version,
        "recipe": Recipe.objects.create(project=project, name="noise", spec={"transforms": []}),
        "asset": background,
        "synth_job": synth_job,
    }


def _project(obj):
    return obj if obj.__class__.__name__ == "Project" else obj.project


# (helper, id keyword, fixture key, what the views read right after: must not query)
ACCESS = [
    (access_project_by_id, "project_id", "project", lambda p: p.name),
    (access_image_by_id, "image_id", "image", lambda i: i.project.name),
    (access_version_by_id, "version_id", "version",
     lambda v: (v.project.name, v.job.created_by.username, v.created_by.username)),
    (access_recipe_by_id, "recipe_id", "recipe", lambda r: (r.project.name, r.project.user_role, r.created_by)),
    (access_asset_by_id, "asset_id", "asset", lambda a: a.created_by.username),
    (access_synth_job_by_id, "synth_job_id", "synth_job",
     lambda s: (s.project.name, s.job.status, s.job.created_by.username, s.created_by.username)),
]
IDS = [helper.__name__ for helper, *_ in ACCESS]


@pytest.mark.parametrize("helper, key, name, reads", ACCESS, ids=IDS)
def test_a_member_gets_the_object_and_role_in_one_query(helper, key, name, reads, users, objects,
                                                        django_assert_num_queries):
    wanted = objects[name]
    with django_assert_num_queries(1):
        obj = helper(user=users["viewer"], **{key: wanted.pk})
        reads(obj)
    assert obj.pk == wanted.pk and obj.user_role == "viewer"
    assert _project(obj).pk == objects["project"].pk


@pytest.mark.parametrize("helper, key, name, reads", ACCESS, ids=IDS)
def test_a_role_without_the_capability_gets_403_in_one_query(helper, key, name, reads, users, objects,
                                                             django_assert_num_queries):
    with django_assert_num_queries(1), pytest.raises(PermissionDenied) as refused:
        helper(user=users["viewer"], **{key: objects[name].pk}, can=Can.MANAGE)
    assert str(refused.value) == DENIED_MESSAGES[Can.MANAGE]
    with django_assert_num_queries(1), pytest.raises(PermissionDenied) as refused:
        helper(user=users["reviewer"], **{key: objects[name].pk}, can=Can.UPLOAD)
    assert str(refused.value) == DENIED_MESSAGES[Can.UPLOAD]
    with django_assert_num_queries(1):
        assert helper(user=users["owner"], **{key: objects[name].pk}, can=Can.MANAGE).user_role == "owner"


@pytest.mark.parametrize("helper, key, name, reads", ACCESS, ids=IDS)
def test_a_non_member_and_a_missing_id_both_get_404_in_one_query(helper, key, name, reads, users, objects,
                                                                 django_assert_num_queries):
    with django_assert_num_queries(1), pytest.raises(Http404) as hidden:
        helper(user=users["outsider"], **{key: objects[name].pk})
    with django_assert_num_queries(1), pytest.raises(Http404) as missing:
        helper(user=users["owner"], **{key: objects[name].pk + 10_000})
    assert str(hidden.value) == str(missing.value)  # the answer does not confirm that it exists


@pytest.mark.parametrize("helper, key, name, reads", ACCESS, ids=IDS)
def test_a_superuser_is_owner_everywhere_and_anonymous_sees_nothing(helper, key, name, reads, make_user, objects,
                                                                    django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    admin = make_user("admin", is_superuser=True)
    with django_assert_num_queries(1):
        assert helper(user=admin, **{key: objects[name].pk}, can=Can.MANAGE).user_role == "owner"
    with django_assert_num_queries(0), pytest.raises(Http404):
        helper(user=AnonymousUser(), **{key: objects[name].pk})


# --- jobs: their own rule (started it, or a member of its project), without importing annotate ---
def test_access_job_by_id_and_job_can_cancel_take_one_query(users, project, make_user, django_assert_num_queries):
    job = job_create(kind="test", created_by=users["annotator"], project=project)
    own = job_create(kind="test", created_by=users["outsider"])
    for user, can_cancel in [("owner", True), ("annotator", True), ("reviewer", False), ("viewer", False)]:
        with django_assert_num_queries(1):
            found = access_job_by_id(user=users[user], job_id=job.pk)
            assert found.created_by.username == "annotator"
            assert job_can_cancel(user=users[user], job=found) is can_cancel, user
    with django_assert_num_queries(1):
        found = access_job_by_id(user=users["outsider"], job_id=own.pk)
        assert job_can_cancel(user=users["outsider"], job=found)
    for user, job_id in [("outsider", job.pk), ("owner", own.pk), ("owner", job.pk + 10_000)]:
        with django_assert_num_queries(1), pytest.raises(Http404):
            access_job_by_id(user=users[user], job_id=job_id)
    admin = make_user("admin", is_superuser=True)
    with django_assert_num_queries(1):
        assert job_can_cancel(user=admin, job=access_job_by_id(user=admin, job_id=own.pk))
