"""The export REST API: dataset versions (built as jobs) and their exports (streamed zips).

Thin views: validate input, call a selector or service, serialize. Every lookup goes through
:mod:`export.selectors` / :mod:`annotate.selectors` (404 for non-members, 403 for a role that may
not do the action).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils.text import slugify
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.permissions import Can
from annotate.selectors import project_get_for_user
from jobs.serializers import JobSerializer

from . import formats, selectors, services
from .serializers import ExportQuerySerializer, VersionImageSerializer, VersionInputSerializer, VersionSerializer
from .streaming import file_response


class VersionListApi(APIView):
    @extend_schema(responses=VersionSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(VersionSerializer(selectors.versions_of(project=project), many=True).data)

    @extend_schema(request=VersionInputSerializer, responses={202: JobSerializer})
    def post(self, request, project_id: int):
        """Build a new version as a job: 202 with the job (its ``version`` field names the version)."""
        project = project_get_for_user(user=request.user, project_id=project_id, can=Can.MANAGE)
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
        version = selectors.version_get_for_user(user=request.user, version_id=version_id)
        return Response(VersionSerializer(version).data)

    @extend_schema(responses={204: None})
    def delete(self, request, version_id: int):
        """Delete a version (owners); its cached exports go with it."""
        version = selectors.version_get_for_user(user=request.user, version_id=version_id, can=Can.MANAGE)
        services.version_delete(version=version)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionImageListApi(ListAPIView):
    """The frozen images of a version with their annotations, paginated; ``?split=`` filters."""

    serializer_class = VersionImageSerializer
    filter_backends: list = []

    def get_queryset(self):
        version = selectors.version_get_for_user(user=self.request.user, version_id=self.kwargs["version_id"])
        return selectors.version_images(version=version, split=self.request.query_params.get("split"))

    @extend_schema(parameters=[OpenApiParameter("split", str)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class _IgnoreFormatParameter(BaseContentNegotiation):
    """``?format=`` names the dataset format here, not DRF's response renderer."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class VersionExportApi(APIView):
    content_negotiation_class = _IgnoreFormatParameter

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(formats.WRITERS), required=True),
            OpenApiParameter("images", str, enum=["0", "1"], description="Include the image files (default 1)"),
        ],
        responses={(200, "application/zip"): bytes, 202: JobSerializer, 206: bytes, 409: dict, 416: None},
    )
    def get(self, request, version_id: int):
        """The version as a zip in a format. Small exports stream at once (and are cached); large
        ones (``EXPORT_JOB_MIN_IMAGES`` images or more) are prepared by a job: 202 with the job,
        409 with the same job while it runs, and the file from this URL once it is done."""
        version = selectors.version_get_for_user(user=request.user, version_id=version_id)
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fmt = query.validated_data["format"].lower()
        with_images = query.validated_data["images"] in ("1", "true")
        services.export_check(version=version, fmt=fmt)
        filename = f"{slugify(version.project.name) or 'project'}-v{version.number}-{fmt}{'' if with_images else '-labels'}.zip"
        cached = services.export_cached(version=version, fmt=fmt, with_images=with_images)
        if cached is not None:
            return file_response(request, Path(cached.path), etag=cached.etag, filename=filename)
        if version.image_count >= settings.EXPORT_JOB_MIN_IMAGES:
            try:
                export = services.export_start(version=version, fmt=fmt, with_images=with_images, user=request.user)
            except services.ExportRunning as exc:
                return Response(
                    {"detail": "This export is already being prepared; follow its job and download it when done.",
                     "job": JobSerializer(exc.job).data},
                    status=status.HTTP_409_CONFLICT,
                )
            return Response(JobSerializer(export.job).data, status=status.HTTP_202_ACCEPTED)
        etag = services.export_etag(version=version, fmt=fmt, with_images=with_images)
        if f'"{etag}"' in request.headers.get("If-None-Match", ""):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": f'"{etag}"'})
        response = StreamingHttpResponse(
            services.export_stream_and_cache(version=version, fmt=fmt, with_images=with_images),
            content_type="application/zip",
        )
        response["ETag"] = f'"{etag}"'
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "private, no-cache"
        return response

