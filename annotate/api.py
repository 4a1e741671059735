"""The annotate REST API: thin views that validate input, call a service or selector, and
serialize the result. Lookups by id go through :mod:`annotate.access` (404 if the project is not
visible to the user, 403 if the role does not allow the action)."""

from __future__ import annotations

import re

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import ErrorSerializer
from jobs.serializers import JobSerializer

from . import health, selectors, services, splits, storage, uploads
from .access import access_image_by_id, access_project_by_id
from .models import Image, Project, Split
from .permissions import Can
from .serializers import (
    AnnotationsPutSerializer,
    HealthSerializer,
    ImageAnnotationsSerializer,
    ImageSerializer,
    ImageUpdateSerializer,
    ImageUploadResultSerializer,
    ImageUploadSerializer,
    LabelClassSerializer,
    MembershipInputSerializer,
    MembershipSerializer,
    ProjectInputSerializer,
    ProjectSerializer,
    ReviewInputSerializer,
    RoleInputSerializer,
    SplitInputSerializer,
    SplitResultSerializer,
    StaleRevisionSerializer,
    ZipUploadSerializer,
)


# --- projects -------------------------------------------------------------------------------
class ProjectListApi(ListAPIView):
    serializer_class = ProjectSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema is built without a user
            return Project.objects.none()
        return selectors.project_list_with_counts(user=self.request.user)

    @extend_schema(request=ProjectInputSerializer, responses={201: ProjectSerializer})
    def post(self, request):
        data = ProjectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(created_by=request.user, **data.validated_data)
        project.user_role = "owner"
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectSerializer)
    def get(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id)
        return Response(ProjectSerializer(project).data)

    @extend_schema(request=ProjectInputSerializer, responses=ProjectSerializer)
    def patch(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
        data = ProjectInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = services.project_update(project=project, **data.validated_data)
        return Response(ProjectSerializer(project).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
        services.project_delete(project=project)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListApi(APIView):
    @extend_schema(responses=MembershipSerializer(many=True))
    def get(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id)
        return Response(MembershipSerializer(selectors.memberships_of(project=project), many=True).data)

    @extend_schema(request=MembershipInputSerializer, responses={201: MembershipSerializer})
    def post(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
        data = MembershipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_add(project=project, **data.validated_data)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    def _membership(self, request, project_id: int, username: str, can: Can):
        project = access_project_by_id(user=request.user, project_id=project_id, can=can)
        return selectors.membership_get_in_project(project=project, username=username)

    @extend_schema(request=RoleInputSerializer, responses=MembershipSerializer)
    def patch(self, request, project_id: int, username: str):
        membership = self._membership(request, project_id, username, Can.MANAGE)
        data = RoleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_set_role(membership=membership, role=data.validated_data["role"])
        return Response(MembershipSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, username: str):
        membership = self._membership(request, project_id, username, Can.MANAGE)
        services.membership_remove(membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- labels ---------------------------------------------------------------------------------
class LabelListApi(APIView):
    @extend_schema(responses=LabelClassSerializer(many=True))
    def get(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id)
        return Response(LabelClassSerializer(selectors.labels_with_counts(project=project), many=True).data)

    @extend_schema(request=LabelClassSerializer, responses={201: LabelClassSerializer})
    def post(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
        data = LabelClassSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = services.label_create(project=project, **data.validated_data)
        return Response(LabelClassSerializer(label).data, status=status.HTTP_201_CREATED)


class LabelDetailApi(APIView):
    @extend_schema(responses=LabelClassSerializer)
    def get(self, request, project_id: int, label_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id)
        return Response(LabelClassSerializer(selectors.label_get_in_project(project=project, label_id=label_id)).data)

    @extend_schema(request=LabelClassSerializer, responses=LabelClassSerializer)
    def patch(self, request, project_id: int, label_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
        label = selectors.label_get_in_project(project=project, label_id=label_id)
        data = LabelClassSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        label = services.label_update(label=label, **data.validated_data)
        return Response(LabelClassSerializer(label).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, label_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
        services.label_delete(label=selectors.label_get_in_project(project=project, label_id=label_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- images ---------------------------------------------------------------------------------
IMAGE_FILTERS = [
    OpenApiParameter("split", str, enum=Split.values),
    OpenApiParameter("status", str, enum=Image.Status.values),
    OpenApiParameter("label", int, description="Images with at least one annotation of this label id"),
    OpenApiParameter("source", str, enum=Image.Source.values),
    OpenApiParameter("rejected", bool, description="Rejected in review (true) or not (false)"),
]


class ImageListApi(ListAPIView):
    serializer_class = ImageSerializer
    parser_classes = [MultiPartParser]
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema is built without a user
            return Image.objects.none()
        project = access_project_by_id(user=self.request.user, project_id=self.kwargs["project_id"])
        params = self.request.query_params
        label = params.get("label")
        if label is not None and not label.isdigit():
            raise ValidationError({"label": "The label filter takes a label id."})
        rejected = params.get("rejected")
        if rejected not in (None, "", "true", "false", "1", "0"):
            raise ValidationError({"rejected": "The rejected filter takes true or false."})
        return selectors.images_of_project(
            project=project, split=params.get("split"), status=params.get("status"),
            label=int(label) if label else None, source=params.get("source"),
            rejected=rejected in ("true", "1") if rejected else None,
        )

    @extend_schema(parameters=IMAGE_FILTERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": ImageUploadSerializer}, responses={201: ImageUploadResultSerializer})
    def post(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.UPLOAD)
        files = request.FILES.getlist("files")
        result = uploads.images_upload(project=project, files=files, user=request.user)
        return Response(
            {
                "created": ImageSerializer(result.created, many=True).data,
                "duplicates": ImageSerializer(result.duplicates, many=True).data,
                "repaired": result.repaired,
            },
            status=status.HTTP_201_CREATED,
        )


class ImageZipUploadApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": ZipUploadSerializer}, responses={202: JobSerializer})
    def post(self, request, project_id: int):
        """Queue a zip of images for upload; 202 with the job to follow."""
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.UPLOAD)
        # Partial: a missing file gets the service's own message; only the options are validated here.
        form = ZipUploadSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        job = uploads.images_upload_zip_start(
            project=project, upload=request.FILES.get("file"), user=request.user,
            skip_broken=form.validated_data.get("skip_broken", False),
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImageDetailApi(APIView):
    @extend_schema(responses=ImageSerializer)
    def get(self, request, image_id: int):
        image = access_image_by_id(user=request.user, image_id=image_id)
        return Response(ImageSerializer(image).data)

    @extend_schema(request=ImageUpdateSerializer, responses=ImageSerializer)
    def patch(self, request, image_id: int):
        data = ImageUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        needs_review = fields.get("status") == "reviewed"
        image = access_image_by_id(
            user=request.user, image_id=image_id, can=Can.REVIEW if needs_review else Can.ANNOTATE
        )
        image = services.image_update(image=image, **fields)
        return Response(ImageSerializer(image).data)

    @extend_schema(responses={204: None})
    def delete(self, request, image_id: int):
        image = access_image_by_id(user=request.user, image_id=image_id, can=Can.MANAGE)
        services.image_delete(image=image)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageReviewApi(APIView):
    @extend_schema(request=ReviewInputSerializer, responses=ImageSerializer)
    def post(self, request, image_id: int):
        image = access_image_by_id(user=request.user, image_id=image_id, can=Can.REVIEW)
        data = ReviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        image = services.image_review(
            image=image, accept=data.validated_data["decision"] == "accept", comment=data.validated_data["comment"]
        )
        return Response(ImageSerializer(image).data)


class ImageFileApi(APIView):
    """The stored image bytes, only for members of its project."""

    @extend_schema(responses={(200, "image/*"): bytes})
    def get(self, request, image_id: int):
        image = access_image_by_id(user=request.user, image_id=image_id)
        response = FileResponse(open(storage.media_path(image.file), "rb"), content_type=image.mime_type)
        response["ETag"] = f'"{image.sha256}"'
        response["Cache-Control"] = "private, max-age=86400, immutable"
        return response


class ImageThumbnailApi(APIView):
    """A JPEG of at most ``size`` pixels (64..1024, default 256), made once and kept."""

    @extend_schema(parameters=[OpenApiParameter("size", int)], responses={(200, "image/jpeg"): bytes})
    def get(self, request, image_id: int):
        image = access_image_by_id(user=request.user, image_id=image_id)
        try:
            size = min(max(int(request.query_params.get("size", 256)), 64), 1024)
        except ValueError:
            raise ValidationError({"size": "The size must be a whole number of pixels."}) from None
        path = services.image_thumbnail(image=image, size=size)
        response = FileResponse(open(path, "rb"), content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=86400, immutable"
        return response


# --- annotations ----------------------------------------------------------------------------
_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d+)"?\s*$')


def _expected_revision(request) -> int:
    header = request.headers.get("If-Match")
    if header is None:
        return -1
    match = _IF_MATCH.match(header)
    if not match:
        raise ValidationError({"If-Match": "If-Match must carry the revision number, e.g. If-Match: \"3\"."})
    return int(match.group(1))


class AnnotationsApi(APIView):
    """All annotations of an image. PUT replaces them at once, guarded by ``If-Match: <revision>``."""

    def _payload(self, image):
        return {"image": image.pk, "revision": image.revision, "annotations": selectors.annotation_dicts_of_image(image=image)}

    @extend_schema(responses=ImageAnnotationsSerializer)
    def get(self, request, image_id: int):
        image = access_image_by_id(user=request.user, image_id=image_id)
        response = Response(self._payload(image))
        response["ETag"] = f'"{image.revision}"'
        return response

    @extend_schema(
        request=AnnotationsPutSerializer,
        parameters=[OpenApiParameter("If-Match", str, OpenApiParameter.HEADER, required=True)],
        responses={200: ImageAnnotationsSerializer, 412: StaleRevisionSerializer, 428: ErrorSerializer},
    )
    def put(self, request, image_id: int):
        image = access_image_by_id(user=request.user, image_id=image_id, can=Can.ANNOTATE)
        expected = _expected_revision(request)
        if expected < 0:
            return Response(
                {"detail": "Send If-Match with the revision you edited (from GET), so no one's work is overwritten."},
                status=status.HTTP_428_PRECONDITION_REQUIRED,
            )
        # The structure is checked here and every field by the service (one pass, no nested DRF
        # serializers: they cost more than the save itself at a few hundred shapes).
        annotations = request.data.get("annotations") if isinstance(request.data, dict) else None
        if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
            raise ValidationError({"annotations": 'Send {"annotations": [...]}, a list of annotation objects.'})
        items = services.annotations_validate(image=image, items=annotations)
        try:
            saved = services.annotations_replace(image=image, expected_revision=expected, items=items, user=request.user)
        except services.StaleRevision as exc:
            return Response({"detail": str(exc), "revision": exc.current}, status=status.HTTP_412_PRECONDITION_FAILED)
        response = Response({"image": image.pk, "revision": image.revision, "annotations": saved})
        response["ETag"] = f'"{image.revision}"'
        return response


# --- splits and health ----------------------------------------------------------------------
class SplitApi(APIView):
    @extend_schema(request=SplitInputSerializer, responses=SplitResultSerializer)
    def post(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
        data = SplitInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(splits.project_split(project=project, **data.validated_data))


class HealthApi(APIView):
    @extend_schema(responses=HealthSerializer)
    def get(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id)
        return Response(health.project_health(project=project))
