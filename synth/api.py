"""The synth REST API: assets per project, synth jobs (202 with the job), their progress."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import LabelClass
from annotate.permissions import Can
from annotate.selectors import project_get_for_user

from . import selectors, services
from .assets import asset_max_bytes
from .serializers import (
    AssetSerializer,
    AssetUploadSerializer,
    SynthJobDetailSerializer,
    SynthJobInputSerializer,
    SynthJobSerializer,
)


class AssetListApi(ListAPIView):
    serializer_class = AssetSerializer
    parser_classes = [MultiPartParser]
    filter_backends: list = []

    def get_queryset(self):
        project = project_get_for_user(user=self.request.user, project_id=self.kwargs["project_id"])
        return selectors.assets_of(project=project, kind=self.request.query_params.get("kind"))

    @extend_schema(request={"multipart/form-data": AssetUploadSerializer}, responses={201: AssetSerializer})
    def post(self, request, project_id: int):
        """Upload a 3D model, background, HDRI or cut-out; refused (400, with the reason) if unusable."""
        project = project_get_for_user(user=request.user, project_id=project_id, can=Can.UPLOAD)
        data = AssetUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > asset_max_bytes():
            raise ValidationError({"file": f"The file is {upload.size:,} bytes; the limit is {asset_max_bytes():,}."})
        label = None
        if data.validated_data.get("label") is not None:
            label = LabelClass.objects.filter(project=project, pk=data.validated_data["label"]).first()
            if label is None:
                raise ValidationError({"label": "Not a label of this project."})
        asset = services.asset_upload(
            project=project, kind=data.validated_data["kind"], name=upload.name, data=upload.read(),
            label=label, user=request.user,
        )
        return Response(AssetSerializer(asset).data, status=status.HTTP_201_CREATED)


class AssetDetailApi(APIView):
    @extend_schema(responses=AssetSerializer)
    def get(self, request, asset_id: int):
        return Response(AssetSerializer(selectors.asset_get_for_user(user=request.user, asset_id=asset_id)).data)

    def delete(self, request, asset_id: int):
        asset = selectors.asset_get_for_user(user=request.user, asset_id=asset_id, can=Can.UPLOAD)
        try:
            services.asset_delete(asset=asset)
        except services.AssetInUse as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SynthJobListApi(ListAPIView):
    serializer_class = SynthJobSerializer
    parser_classes = [JSONParser]
    filter_backends: list = []

    def get_queryset(self):
        project = project_get_for_user(user=self.request.user, project_id=self.kwargs["project_id"])
        return selectors.synth_jobs_of(project=project)

    @extend_schema(request=SynthJobInputSerializer, responses={202: SynthJobSerializer})
    def post(self, request, project_id: int):
        """Check the spec and queue the job's shards; 202 with the synth job and its job."""
        project = project_get_for_user(user=request.user, project_id=project_id, can=Can.UPLOAD)
        data = SynthJobInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        synth_job = services.synth_job_create(project=project, spec=data.validated_data["spec"], user=request.user)
        return Response(SynthJobSerializer(synth_job).data, status=status.HTTP_202_ACCEPTED)


class SynthJobDetailApi(APIView):
    @extend_schema(responses=SynthJobDetailSerializer)
    def get(self, request, synth_job_id: int):
        """The job's progress, its shards, and the ids of its first images."""
        synth_job = selectors.synth_job_get_for_user(user=request.user, synth_job_id=synth_job_id)
        synth_job.job.refresh_from_db()
        return Response(SynthJobDetailSerializer(synth_job).data)

