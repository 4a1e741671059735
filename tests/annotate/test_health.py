from annotate.imaging import check_image_bytes
from annotate.models import Annotation, Image
from annotate.uploads import images_store_checked
from tests.conftest import image_bytes


def test_health_reports_counts_gaps_invalid_annotations_and_split_leaks(api, users, project, labels):
    checked = [
        ("a.jpg", check_image_bytes(image_bytes(320, 240, seed=1, quality=95))),
        ("a-recompressed.jpg", check_image_bytes(image_bytes(320, 240, seed=1, quality=50))),  # near-duplicate
        ("b.jpg", check_image_bytes(image_bytes(320, 240, seed=2))),
        ("c.jpg", check_image_bytes(image_bytes(320, 240, seed=3))),
    ]
    a, a2, b, c = images_store_checked(project=project, checked=checked, user=users["owner"], source="upload").created
    Image.objects.filter(pk=a.pk).update(split="train")
    Image.objects.filter(pk=a2.pk).update(split="test")
    Image.objects.filter(pk__in=[b.pk, c.pk]).update(split="train")
    Annotation.objects.create(image=a, label=labels["cat"], kind="box", geometry={"x": 1, "y": 1, "w": 5, "h": 5})
    Annotation.objects.create(image=a2, label=labels["cat"], kind="box", geometry={"x": 1, "y": 1, "w": 5, "h": 5})
    # Written behind the API's back (e.g. an old import): the report must catch it.
    Annotation.objects.create(image=b, label=labels["dog"], kind="box", geometry={"x": 300, "y": 1, "w": 50, "h": 5})

    report = api(users["viewer"]).get(f"/api/projects/{project.pk}/health").json()
    assert report["images"] == 4
    assert report["splits"]["train"]["images"] == 3 and report["splits"]["test"]["images"] == 1
    assert report["splits"]["train"]["objects"] == {"cat": 1, "dog": 1}
    assert report["splits"]["test"]["images_per_class"] == {"cat": 1}
    assert report["unannotated"] == {"count": 1, "images": [c.pk]}
    assert report["invalid_annotations"]["count"] == 1
    assert "outside" in report["invalid_annotations"]["items"][0]["problem"]
    leaks = report["split_leaks"]
    assert leaks["count"] == 1
    assert sorted(leaks["pairs"][0]["images"]) == sorted([a.pk, a2.pk])
    assert sorted(leaks["pairs"][0]["splits"]) == ["test", "train"]


def test_near_duplicates_in_the_same_split_are_not_leaks(api, users, project):
    checked = [
        ("a.jpg", check_image_bytes(image_bytes(320, 240, seed=1, quality=95))),
        ("a2.jpg", check_image_bytes(image_bytes(320, 240, seed=1, quality=50))),
    ]
    images_store_checked(project=project, checked=checked, user=users["owner"], source="upload")
    Image.objects.filter(project=project).update(split="val")
    assert api(users["owner"]).get(f"/api/projects/{project.pk}/health").json()["split_leaks"]["count"] == 0
