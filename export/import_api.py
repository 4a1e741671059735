"""``POST /api/projects/{id}/import``: a dataset zip in, 202 with the import job out.

The archive is checked while the request waits (unsafe or unreadable zips, empty ones and ones
whose files cannot be in the chosen format get a 400 and change nothing); the import itself,
which reads and validates everything before writing anything, runs as a job.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_project_by_id
from annotate.permissions import Can
from jobs.serializers import JobSerializer

from .dataset_import import dataset_import_start
from .dataset_importers import FORMATS


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A zip of the dataset")
    format = serializers.ChoiceField(choices=FORMATS)
    clip = serializers.BooleanField(
        required=False, default=False,
        help_text="Clip boxes, polygons and keypoints slightly outside the image instead of refusing the dataset",
    )
    skip_broken = serializers.BooleanField(
        required=False, default=False,
        help_text="Leave out broken image files (damaged, truncated, too large) and their annotations, listed under "
        "'skipped' in the job's result, instead of refusing the dataset",
    )


class ProjectImportApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": ImportInputSerializer}, responses={202: JobSerializer})
    def post(self, request, project_id: int):
        """Queue the import of a dataset zip (coco, yolo, voc or imagefolder); 202 with the job."""
        # Importing creates labels, which only the project's owners may do.
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
        data = ImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = dataset_import_start(
            project=project, upload=data.validated_data["file"], format=data.validated_data["format"],
            user=request.user, clip=data.validated_data["clip"], skip_broken=data.validated_data["skip_broken"],
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
