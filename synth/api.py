"""The synth REST API: assets per project, synth jobs (202 with the job), their progress."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_project_by_id
from annotate.permissions import Can
from config.parsers import JSONParser
from config.schema import ErrorSerializer

from . import selectors, services
from .models import Asset, SynthJob
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
        if getattr(self, "swagger_fake_view", False):  # the schema is built without a user
            return Asset.objects.none()
        project = access_project_by_id(user=self.request.user, project_id=self.kwargs["project_id"])
        return selectors.assets_of(project=project, kind=self.request.query_params.get("kind"))

    @extend_schema(parameters=[OpenApiParameter("kind", str, enum=Asset.Kind.values)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": AssetUploadSerializer}, responses={201: AssetSerializer})
    def post(self, request, project_id: int):
        """Upload a 3D model, background, HDRI or cut-out; refused (400, with the reason) if unusable."""
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.UPLOAD)
        data = AssetUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        label = selectors.asset_label(project=project, label_id=data.validated_data.get("label"))
        asset = services.asset_upload(
            project=project, kind=data.validated_data["kind"], name=upload.name, data=upload.read(),
            label=label, user=request.user,
        )
        return Response(AssetSerializer(asset).data, status=status.HTTP_201_CREATED)


class AssetDetailApi(APIView):
    @extend_schema(responses=AssetSerializer)
    def get(self, request, asset_id: int):
        return Response(AssetSerializer(selectors.access_asset_by_id(user=request.user, asset_id=asset_id)).data)

    @extend_schema(responses={204: None, 409: ErrorSerializer})
    def delete(self, request, asset_id: int):
        asset = selectors.access_asset_by_id(user=request.user, asset_id=asset_id, can=Can.UPLOAD)
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
        if getattr(self, "swagger_fake_view", False):  # the schema is built without a user
            return SynthJob.objects.none()
        project = access_project_by_id(user=self.request.user, project_id=self.kwargs["project_id"])
        return selectors.synth_jobs_of(project=project)

    @extend_schema(request=SynthJobInputSerializer, responses={202: SynthJobSerializer})
    def post(self, request, project_id: int):
        """Check the spec and queue the job's shards; 202 with the synth job and its job."""
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.UPLOAD)
        data = SynthJobInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        synth_job = services.synth_job_create(project=project, spec=data.validated_data["spec"], user=request.user)
        return Response(SynthJobSerializer(synth_job).data, status=status.HTTP_202_ACCEPTED)


class SynthJobDetailApi(APIView):
    @extend_schema(responses=SynthJobDetailSerializer)
    def get(self, request, synth_job_id: int):
        """The job's progress, its shards, and the ids of its first images."""
        synth_job = selectors.access_synth_job_by_id(user=request.user, synth_job_id=synth_job_id)
        synth_job.job.refresh_from_db()
        return Response(SynthJobDetailSerializer(synth_job).data)

