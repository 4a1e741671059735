"""The export REST API: a dataset version as a zip in one of the ecosystem's formats.

Thin views: validate input, call a selector or service, serialize. Every lookup goes through
``access_*_by_id`` (404 for non-members, 403 for a role that may not do the action).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets import selectors
from jobs.serializers import JobSerializer

from . import dataset_formats as formats
from . import services
from .serializers import ExportFormatsSerializer, ExportQuerySerializer, ExportRunningSerializer
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
            OpenApiParameter("images", str, enum=["0", "1", "true", "false"], description="Include the image files (default 1)"),
            OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, description="The ETag of a copy you hold: 304 if unchanged"),
            OpenApiParameter("Range", str, OpenApiParameter.HEADER, description="bytes=START-END of a cached export: 206"),
        ],
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The zip"),
            202: OpenApiResponse(JobSerializer, description="A job now prepares the export; GET again when it is done"),
            (206, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The requested byte range"),
            304: OpenApiResponse(description="Not modified (If-None-Match matched)"),
            409: OpenApiResponse(ExportRunningSerializer, description="The same export is already being prepared"),
            416: OpenApiResponse(description="The range lies outside the file"),
        },
    )
    def get(self, request, version_id: int):
        """The version as a zip in a format. Small exports stream at once (and are cached); large
        ones (``EXPORT_JOB_MIN_IMAGES`` images or more) are prepared by a job: 202 with the job,
        409 with the same job while it runs, and the file from this URL once it is done."""
        version = selectors.access_version_by_id(user=request.user, version_id=version_id)
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        served = services.export_serve(
            version=version, fmt=query.validated_data["format"].lower(),
            with_images=query.validated_data["images"] in ("1", "true"), user=request.user,
            if_none_match=request.headers.get("If-None-Match", ""),
        )
        match served:
            case services.ExportCachedFile(path=path, etag=etag, filename=filename):
                return file_response(request, path, etag=etag, filename=filename)
            case services.ExportJobStarted(job=job):
                return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
            case services.ExportJobRunning(job=job):
                return Response(
                    {"detail": "This export is already being prepared; follow its job and download it when done.",
                     "job": JobSerializer(job).data},
                    status=status.HTTP_409_CONFLICT,
                )
            case services.ExportNotModified(etag=etag):
                return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": f'"{etag}"'})
            case services.ExportStream(chunks=chunks, etag=etag, filename=filename):
                response = StreamingHttpResponse(chunks, content_type="application/zip")
                response["ETag"] = f'"{etag}"'
                response["Content-Disposition"] = f'attachment; filename="{filename}"'
                response["Cache-Control"] = "private, no-cache"
                return response
        raise AssertionError(f"unhandled export outcome {served!r}")



def _first_message(error: ValidationError) -> str:
    messages = error.message_dict if hasattr(error, "error_dict") else {"detail": error.messages}
    return " ".join(next(iter(messages.values()), ["Not available."]))


class VersionExportFormatsApi(APIView):
    @extend_schema(responses=ExportFormatsSerializer)
    def get(self, request, version_id: int):
        """Which formats this version can be written in (and, where not, why), and whether its
        exports are prepared by a job (202, then download) rather than streamed at once."""
        version = selectors.access_version_by_id(user=request.user, version_id=version_id)
        rows = []
        for fmt in formats.WRITERS:
            try:
                services.export_check(version=version, fmt=fmt)
            except ValidationError as exc:
                rows.append({"format": fmt, "available": False, "reason": _first_message(exc)})
            else:
                rows.append({"format": fmt, "available": True, "reason": ""})
        return Response({"as_job": version.image_count >= settings.EXPORT_JOB_MIN_IMAGES,
                         "job_min_images": settings.EXPORT_JOB_MIN_IMAGES, "formats": rows})
