"""The export REST API: a dataset version as a zip in one of the ecosystem's formats.

Thin views: validate input, call a selector or service, serialize. Every lookup goes through
:mod:`datasets.selectors` / :mod:`annotate.selectors` (404 for non-members, 403 for a role that may
not do the action).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils.text import slugify
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets import selectors
from jobs.serializers import JobSerializer

from . import dataset_formats as formats
from . import services
from .serializers import ExportQuerySerializer
from .streaming import file_response


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

