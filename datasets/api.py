"""The dataset-version REST API: versions built as jobs, their frozen images.

Thin views: validate input, call a selector or service, serialize. Every lookup goes through
``access_*_by_id`` (404 for non-members, 403 for a role that may not do the action).
"""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate import storage
from annotate.access import access_project_by_id
from annotate.permissions import Can
from annotate.split_names import SPLITS
from jobs.serializers import JobSerializer

from . import selectors, services
from .models import VersionImage
from .serializers import VersionImageSerializer, VersionInputSerializer, VersionJobSerializer, VersionSerializer


class VersionListApi(APIView):
    @extend_schema(responses=VersionSerializer(many=True))
    def get(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id)
        return Response(VersionSerializer(selectors.versions_of(project=project), many=True).data)

    @extend_schema(request=VersionInputSerializer, responses={202: VersionJobSerializer})
    def post(self, request, project_id: int):
        """Build a new version as a job: 202 with the job (its ``version`` field names the version)."""
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
        data = VersionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = dict(data.validated_data)
        name = params.pop("name", "")
        version = services.version_create(project=project, created_by=request.user, name=name, params=params)
        body = {**JobSerializer(version.job).data, "version": version.pk,
                "version_url": reverse("version-detail", args=[version.pk])}
        response = Response(body, status=status.HTTP_202_ACCEPTED)
        response["Location"] = body["version_url"]
        return response


class VersionDetailApi(APIView):
    @extend_schema(responses=VersionSerializer)
    def get(self, request, version_id: int):
        version = selectors.access_version_by_id(user=request.user, version_id=version_id)
        return Response(VersionSerializer(version).data)

    @extend_schema(responses={204: None})
    def delete(self, request, version_id: int):
        """Delete a version (owners); its cached exports go with it."""
        version = selectors.access_version_by_id(user=request.user, version_id=version_id, can=Can.MANAGE)
        services.version_delete(version=version)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionImageListApi(ListAPIView):
    """The frozen images of a version with their annotations, paginated; ``?split=`` filters."""

    serializer_class = VersionImageSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema is built without a user
            return VersionImage.objects.none()
        version = selectors.access_version_by_id(user=self.request.user, version_id=self.kwargs["version_id"])
        return selectors.version_images(version=version, split=self.request.query_params.get("split"))

    @extend_schema(parameters=[OpenApiParameter("split", str, enum=list(SPLITS))])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class VersionImageFileApi(APIView):
    """The frozen file of one image of a version (after its preprocessing), by its ``index``."""

    @extend_schema(responses={(200, "image/*"): bytes})
    def get(self, request, version_id: int, index: int):
        version = selectors.access_version_by_id(user=request.user, version_id=version_id)
        image = selectors.version_images(version=version).filter(index=index).first()
        if image is None:
            raise Http404("No such image in this version.")
        response = FileResponse(open(storage.media_path(image.file), "rb"), content_type=image.mime_type)
        response["ETag"] = f'"{image.sha256}"'
        response["Cache-Control"] = "private, max-age=86400, immutable"
        return response
