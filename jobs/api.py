from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import ErrorSerializer

from . import selectors, services
from .models import Job
from .serializers import JobSerializer


class JobListApi(generics.ListAPIView):
    serializer_class = JobSerializer
    filterset_fields = ["status", "kind", "project"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema is built without a user
            return Job.objects.none()
        return selectors.jobs_visible_to(user=self.request.user).select_related("created_by")


class JobDetailApi(APIView):
    @extend_schema(responses=JobSerializer)
    def get(self, request, job_id: int):
        job = selectors.access_job_by_id(user=request.user, job_id=job_id)
        return Response(JobSerializer(job).data)


class JobCancelApi(APIView):
    @extend_schema(request=None, responses={202: JobSerializer, 409: ErrorSerializer})
    def post(self, request, job_id: int):
        job = selectors.access_job_by_id(user=request.user, job_id=job_id)
        if not selectors.job_can_cancel(user=request.user, job=job):
            raise PermissionDenied("Only whoever started the job or a project owner may cancel it.")
        try:
            job = services.job_cancel(job=job)
        except services.JobAlreadyFinished as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
