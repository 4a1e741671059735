"""The augment REST API: thin views that validate input, call a service or selector, and
serialize the result. Lookups go through ``access_*_by_id`` (404 if the project is not
visible to the user, 403 if the role does not allow the action)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_project_by_id
from annotate.models import SPLITS
from annotate.permissions import Can
from jobs.serializers import JobSerializer

from . import selectors, services
from .profiles import PROFILES, SEVERITIES
from .recipes import transform_catalog
from .serializers import (
    CloneProfileSerializer,
    CorruptionInputSerializer,
    CorruptionManifestSerializer,
    CorruptionRunningSerializer,
    PreviewInputSerializer,
    PreviewSerializer,
    ProfileDetailSerializer,
    ProfileSerializer,
    RecipeInputSerializer,
    RecipeSerializer,
    RecipeValidateInputSerializer,
    RecipeValidSerializer,
    TransformSerializer,
)


# --- built-in profiles and the transform catalogue -------------------------------------------------
class ProfileListApi(APIView):
    """The built-in device profiles: what camera failure each simulates, why its ranges, its recipe."""

    @extend_schema(responses=ProfileSerializer(many=True), operation_id="augment_profiles_list")
    def get(self, request):
        return Response([profile.as_dict() for profile in PROFILES.values()])


class ProfileDetailApi(APIView):
    """One profile, with the exact corruption recipe of each severity 1-5."""

    @extend_schema(responses=ProfileDetailSerializer)
    def get(self, request, slug: str):
        profile = PROFILES.get(slug)
        if profile is None:
            raise Http404("No such profile.")
        return Response({**profile.as_dict(), "corruptions": {str(s): profile.corruption(s) for s in SEVERITIES}})


class TransformListApi(APIView):
    """Every transform a recipe may use, with its parameters and their defaults."""

    @extend_schema(responses=TransformSerializer(many=True), operation_id="augment_transforms_list")
    def get(self, request):
        return Response(transform_catalog())


# --- recipes ------------------------------------------------------------------------------------
class RecipeListApi(APIView):
    @extend_schema(responses=RecipeSerializer(many=True))
    def get(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id)
        return Response(RecipeSerializer(selectors.recipes_of(project=project), many=True).data)

    @extend_schema(request=RecipeInputSerializer, responses={201: RecipeSerializer})
    def post(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
        data = RecipeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        recipe = services.recipe_create(project=project, created_by=request.user, **data.validated_data)
        return Response(RecipeSerializer(recipe).data, status=status.HTTP_201_CREATED)


class RecipeFromProfileApi(APIView):
    """Clone a built-in profile into an editable recipe of the project."""

    @extend_schema(request=CloneProfileSerializer, responses={201: RecipeSerializer})
    def post(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
        data = CloneProfileSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        recipe = services.recipe_clone_profile(project=project, created_by=request.user, **data.validated_data)
        return Response(RecipeSerializer(recipe).data, status=status.HTTP_201_CREATED)


class RecipeDetailApi(APIView):
    @extend_schema(responses=RecipeSerializer)
    def get(self, request, recipe_id: int):
        return Response(RecipeSerializer(selectors.access_recipe_by_id(user=request.user, recipe_id=recipe_id)).data)

    @extend_schema(request=RecipeInputSerializer, responses=RecipeSerializer)
    def patch(self, request, recipe_id: int):
        recipe = selectors.access_recipe_by_id(user=request.user, recipe_id=recipe_id, can=Can.MANAGE)
        data = RecipeInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        recipe = services.recipe_update(recipe=recipe, **data.validated_data)
        return Response(RecipeSerializer(recipe).data)

    @extend_schema(request=RecipeInputSerializer, responses=RecipeSerializer)
    def put(self, request, recipe_id: int):
        recipe = selectors.access_recipe_by_id(user=request.user, recipe_id=recipe_id, can=Can.MANAGE)
        data = RecipeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        recipe = services.recipe_update(recipe=recipe, **data.validated_data)
        return Response(RecipeSerializer(recipe).data)

    @extend_schema(responses={204: None})
    def delete(self, request, recipe_id: int):
        recipe = selectors.access_recipe_by_id(user=request.user, recipe_id=recipe_id, can=Can.MANAGE)
        services.recipe_delete(recipe=recipe)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecipePreviewApi(APIView):
    """``count`` augmented samples of one image with their annotations, deterministic by seed."""

    @extend_schema(request=PreviewInputSerializer, responses=PreviewSerializer)
    def post(self, request, recipe_id: int):
        recipe = selectors.access_recipe_by_id(user=request.user, recipe_id=recipe_id)
        data = PreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        image = selectors.image_in_project(project=recipe.project, image_id=params["image"])
        samples = services.recipe_preview(
            recipe=recipe, image=image, count=params["count"], seed=params["seed"], max_side=params["max_side"],
            spec=params.get("spec"),
        )
        return Response({
            "recipe": recipe.pk, "image": image.pk, "seed": params["seed"],
            "source": {"width": image.width, "height": image.height}, "samples": samples,
        })


class RecipeValidateApi(APIView):
    """Check a spec without saving it (the recipe editor asks as you type); 400 names each bad field."""

    @extend_schema(request=RecipeValidateInputSerializer, responses=RecipeValidSerializer)
    def post(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id)
        data = RecipeValidateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.recipe_validate(project=project, spec=data.validated_data["spec"])
        return Response({"valid": True})


# --- corruption suite ------------------------------------------------------------------------------
class CorruptionApi(APIView):
    """Queue a deterministic corruption of a split (profile + severity 1-5); 202 with the job."""

    @extend_schema(request=CorruptionInputSerializer, responses={202: JobSerializer, 409: CorruptionRunningSerializer})
    def post(self, request, project_id: int):
        project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
        data = CorruptionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        try:
            job = services.corruption_start(project=project, user=request.user, **params)
        except services.CorruptionRunning as exc:
            return Response({"detail": str(exc), "job": exc.job.pk}, status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def _corruption_folder(request, project_id: int, profile: str, severity: int, split: str, seed: int) -> Path:
    project = access_project_by_id(user=request.user, project_id=project_id)
    if profile not in PROFILES or severity not in SEVERITIES or split not in SPLITS:
        raise Http404("No such corruption setting.")
    relative = services.corruption_folder(project=project, profile=profile, severity=severity, split=split, seed=seed)
    folder = Path(settings.MEDIA_ROOT) / relative
    if not (folder / "manifest.json").is_file():
        raise Http404("This corruption has not been built; POST to /corruptions first.")
    return folder


class CorruptionManifestApi(APIView):
    """The manifest of a built corruption: per image its file, size, seed and annotations."""

    @extend_schema(responses=CorruptionManifestSerializer)
    def get(self, request, project_id: int, profile: str, severity: int, split: str, seed: int):
        folder = _corruption_folder(request, project_id, profile, severity, split, seed)
        return FileResponse(open(folder / "manifest.json", "rb"), content_type="application/json")


class CorruptionImageApi(APIView):
    """One corrupted image (JPEG), by the id of the image it was made from."""

    @extend_schema(responses={(200, "image/jpeg"): bytes})
    def get(self, request, project_id: int, profile: str, severity: int, split: str, seed: int, image_id: int):
        folder = _corruption_folder(request, project_id, profile, severity, split, seed)
        path = folder / "images" / f"{image_id}.jpg"
        if not path.is_file():
            raise Http404("No such image in this corruption.")
        return FileResponse(open(path, "rb"), content_type="image/jpeg")
