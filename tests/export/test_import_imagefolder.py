import pytest

from annotate.models import Annotation, Image
from export.dataset_import import dataset_import
from export.dataset_importers.common import ImportRefused
from tests.export.import_fixtures import jpeg, project_counts, write_zip

pytestmark = pytest.mark.django_db


def test_split_class_image_layout(project, tmp_path):
    path = write_zip(tmp_path, {
        "digits/train/zero/a.jpg": jpeg(seed=1),
        "digits/train/one/b.jpg": jpeg(seed=2),
        "digits/valid/one/c.jpg": jpeg(seed=3),
        "digits/test/zero/d.png": jpeg(seed=4),
        "digits/README.txt": b"not an image, left alone",
    })
    result = dataset_import(project=project, path=path, format="imagefolder")
    assert result["splits"] == {"train": 2, "val": 1, "test": 1, "unassigned": 0}
    assert result["annotations_by_kind"] == {"tag": 4}
    assert dict(Annotation.objects.values_list("image__original_name", "label__name")) == {
        "a.jpg": "zero", "b.jpg": "one", "c.jpg": "one", "d.png": "zero",
    }


def test_class_image_layout_without_splits(project, tmp_path):
    path = write_zip(tmp_path, {"cat/a.jpg": jpeg(seed=1), "dog/b.jpg": jpeg(seed=2)})
    result = dataset_import(project=project, path=path, format="imagefolder")
    assert result["splits"]["unassigned"] == 2
    assert set(Image.objects.values_list("split", flat=True)) == {"unassigned"}


def test_an_image_outside_a_class_folder_or_a_broken_image_refuses_all(project, tmp_path):
    path = write_zip(tmp_path, {"cat/a.jpg": jpeg(seed=1), "cat/deep/b.jpg": jpeg(seed=2), "dog/c.jpg": jpeg()[:200]})
    with pytest.raises(ImportRefused) as caught:
        dataset_import(project=project, path=path, format="imagefolder")
    text = str(caught.value)
    assert "cat/deep/b.jpg: The image is not in a class folder" in text
    assert "dog/c.jpg: The image is damaged or truncated" in text
    assert caught.value.report.count == 2
    assert project_counts(project) == (0, 0, 0)
