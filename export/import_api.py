"""``POST /api/projects/{id}/import``: a dataset zip in, 202 with the import job out.

The archive is checked while the request waits (unsafe or unreadable zips, empty ones and ones
whose files cannot be in the chosen format get a 400 and change nothing); the import itself,
which reads and validates everything before writing anything, runs as a job.
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate import selectors
from annotate.permissions import Can
from annotate.uploads import zip_upload_spool
from jobs.serializers import JobSerializer
from jobs.services import job_enqueue

from .dataset_import import dataset_import_job_create, import_archive_check
from .dataset_importers import FORMATS
from .import_tasks import import_dataset


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A zip of the dataset")
    format = serializers.ChoiceField(choices=FORMATS)
    clip = serializers.BooleanField(
        required=False, default=False,
        help_text="Clip boxes, polygons and keypoints slightly outside the image instead of refusing the dataset",
    )


class ProjectImportApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": ImportInputSerializer}, responses={202: JobSerializer})
    def post(self, request, project_id: int):
        """Queue the import of a dataset zip (coco, yolo, voc or imagefolder); 202 with the job."""
        # Importing creates labels, which only the project's owners may do.
        project = selectors.project_get_for_user(user=request.user, project_id=project_id, can=Can.MANAGE)
        data = ImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload, fmt = data.validated_data["file"], data.validated_data["format"]
        path, _ = zip_upload_spool(
            upload=upload, folder="imports", check=lambda p: import_archive_check(path=p, format=fmt)
        )
        with transaction.atomic():
            job = dataset_import_job_create(
                project=project, path=path, format=data.validated_data["format"], user=request.user,
                clip=data.validated_data["clip"], name=upload.name or "", delete_after=True,
            )
            job_enqueue(job=job, task=import_dataset)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
