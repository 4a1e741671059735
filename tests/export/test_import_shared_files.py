"""An import stores its files before its transaction; the last image of one of them, in another
project, may be deleted in between. The import must still end with the file it uses."""

from __future__ import annotations

import pytest

from annotate import services as annotate_services
from annotate import storage
from annotate.imaging import check_image_bytes
from annotate.models import Image
from annotate.uploads import images_store_checked
from export.dataset_import import dataset_import
from tests.export.import_fixtures import jpeg, write_zip

pytestmark = pytest.mark.django_db


class _DeleteBeforeSaving:
    """Progress that, when the import starts saving rows, deletes ``image`` (and removes its file)."""

    def __init__(self, image: Image, capture):
        self.image, self.capture = image, capture

    def progress(self, fraction: float, message: str | None = None, *, force: bool = False) -> None:
        if message and message.startswith("Saving") and self.image is not None:
            with self.capture(execute=True):
                annotate_services.image_delete(image=self.image)
            self.image = None


def test_an_import_keeps_a_file_whose_last_other_user_was_deleted_while_it_stored_it(
    project, users, tmp_path, django_capture_on_commit_callbacks
):
    other = annotate_services.project_create(name="Other", created_by=users["owner"])
    [doomed] = images_store_checked(project=other, checked=[("x.jpg", check_image_bytes(jpeg(seed=31)))],
                                    user=users["owner"], source="upload").created
    dataset = write_zip(tmp_path, {"cat/a.jpg": jpeg(seed=31), "dog/b.jpg": jpeg(seed=32)})
    dataset_import(project=project, path=dataset, format="imagefolder",
                   ctx=_DeleteBeforeSaving(doomed, django_capture_on_commit_callbacks))
    assert not Image.objects.filter(pk=doomed.pk).exists()
    image = Image.objects.get(project=project, original_name="a.jpg")
    assert storage.media_path(image.file).read_bytes() == jpeg(seed=31)
