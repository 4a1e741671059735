"""The training REST API: runs per project (POST → 202 with the run and its job), a run's live
state, its exported variants, their downloads and the plots.

Thin views: validate input, call a selector or service, serialize. Every lookup goes through
``access_*_by_id`` (404 for non-members, 403 for a role that may not). Cancel is the jobs API's
``POST /api/jobs/{id}/cancel`` on the run's job.
"""

from __future__ import annotations

import tempfile

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_project_by_id
from annotate.permissions import Can
from config.parsers import JSONParser
from config.schema import ErrorSerializer

from . import robustness, selectors, services
from .models import ModelArtifact, TrainingRun
from .packaging import ArtifactUnavailable, artifact_zip, artifact_zip_name
from .serializers import (
    ArtifactSerializer,
    RobustnessInputSerializer,
    RobustnessReportSerializer,
    TrainingRunDetailSerializer,
    TrainingRunInputSerializer,
    TrainingRunSerializer,
)


class TrainingRunListApi(ListAPIView):
    serializer_class = TrainingRunSerializer
    parser_classes = [JSONParser]
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema is built without a user
            return TrainingRun.objects.none()
        project = access_project_by_id(user=self.request.user, project_id=self.kwargs["project_id"])
        version = self.request.query_params.get("version")
        return selectors.runs_of(project=project, version_id=int(version) if (version or "").isdigit() else None)

    @extend_schema(parameters=[OpenApiParameter("version", int, description="Only the runs of this version")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=TrainingRunInputSerializer, responses={202: TrainingRunDetailSerializer})
    def post(self, request, project_id: int):
        """Check the settings and queue the run on the train queue: 202 with the run and its job.
        A setting at fault is a 400 naming it, and nothing is queued."""
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
        data = TrainingRunInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.training_run_start(project=project, user=request.user, **data.validated_data)
        run = selectors.access_run_by_id(user=request.user, run_id=run.pk)
        body = TrainingRunDetailSerializer(run).data
        response = Response(body, status=status.HTTP_202_ACCEPTED)
        response["Location"] = body["api_url"]
        return response


class TrainingRunDetailApi(APIView):
    @extend_schema(responses=TrainingRunDetailSerializer)
    def get(self, request, run_id: int):
        """Status, progress, the per-epoch history, test metrics, exported variants and plots."""
        run = selectors.access_run_by_id(user=request.user, run_id=run_id)
        return Response(TrainingRunDetailSerializer(run).data)


class TrainingRunArtifactsApi(ListAPIView):
    """Each exported variant: format, variant, size, sha256, latency and the metric of that file."""

    serializer_class = ArtifactSerializer
    filter_backends: list = []
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ModelArtifact.objects.none()
        run = selectors.access_run_by_id(user=self.request.user, run_id=self.kwargs["run_id"])
        return selectors.artifacts_of(run=run)


class ArtifactDownloadApi(APIView):
    @extend_schema(responses={
        (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="model file, labels.txt, model_card.json"),
        409: OpenApiResponse(ErrorSerializer, description="The variant failed to export, or its file is gone"),
    })
    def get(self, request, artifact_id: int):
        """A zip of the model file (a SavedModel folder as a folder), ``labels.txt`` and ``model_card.json``."""
        artifact = selectors.access_artifact_by_id(user=request.user, artifact_id=artifact_id)
        out = tempfile.TemporaryFile()
        try:
            artifact_zip(artifact, out)
        except ArtifactUnavailable as exc:
            out.close()
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        out.seek(0)
        return FileResponse(out, as_attachment=True, filename=artifact_zip_name(artifact), content_type="application/zip")


class TrainingRunPlotApi(APIView):
    @extend_schema(responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The figure")})
    def get(self, request, run_id: int, plot: str):
        """One of the run's figures (learning curves, confusion matrix or PR curve, sample predictions)."""
        run = selectors.access_run_by_id(user=request.user, run_id=run_id)
        path = selectors.run_plot_path(run=run, name=plot)
        content_type = "image/png" if path.suffix.lower() == ".png" else "application/octet-stream"
        response = FileResponse(open(path, "rb"), content_type=content_type)
        response["Cache-Control"] = "private, no-cache"
        return response


class TrainingRunRobustnessApi(APIView):
    @extend_schema(responses=RobustnessReportSerializer(many=True))
    def get(self, request, run_id: int):
        """The run's robustness reports, newest first: status and progress (their jobs'), the metric
        by profile and severity, the summary against the clean score, and the plot's URL."""
        run = selectors.access_run_by_id(user=request.user, run_id=run_id)
        return Response(RobustnessReportSerializer(robustness.reports_of(run=run), many=True).data)

    @extend_schema(request=RobustnessInputSerializer, responses={202: RobustnessReportSerializer})
    def post(self, request, run_id: int):
        """Queue a robustness report of one exported file of a finished run (train queue): 202 with
        the report and its job. A refusal is a 400 naming the field (``run`` when the run has not
        succeeded, ``variant``, ``profiles``, ``severities``, ``seed``), and nothing is queued."""
        run = selectors.access_run_by_id(user=request.user, run_id=run_id, can=Can.MANAGE)
        data = RobustnessInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = robustness.robustness_start(run=run, user=request.user, **data.validated_data)
        report = robustness.reports_of(run=run).get(pk=report.pk)
        return Response(RobustnessReportSerializer(report).data, status=status.HTTP_202_ACCEPTED)


class RobustnessPlotApi(APIView):
    @extend_schema(responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The figure")})
    def get(self, request, run_id: int, report_id: int):
        """A robustness report's figure: the metric vs severity, one line per profile."""
        run = selectors.access_run_by_id(user=request.user, run_id=run_id)
        report = robustness.reports_of(run=run).filter(pk=report_id).first()
        path = robustness.report_plot_path(report) if report is not None else None
        if path is None:
            raise Http404("No such plot.")
        response = FileResponse(open(path, "rb"), content_type="image/png")
        response["Cache-Control"] = "private, no-cache"
        return response
