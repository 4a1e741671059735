"""Input and output shapes of the augment API. Spec validation is not here: it lives in
:mod:`augment.recipes` and is reached through the services, so the API, the admin and scripts
all get the same checks."""

from rest_framework import serializers

from annotate.serializers import split_choice_field
from annotate.split_names import TEST

from .models import Recipe
from .services import PREVIEW_MAX_COUNT


class RecipeSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Recipe
        fields = ["id", "project", "name", "description", "spec", "profile", "created_by", "created_at", "updated_at"]
        read_only_fields = fields


class RecipeInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    spec = serializers.JSONField()


class CloneProfileSerializer(serializers.Serializer):
    profile = serializers.CharField(max_length=50)
    name = serializers.CharField(max_length=100, required=False)


class PreviewInputSerializer(serializers.Serializer):
    image = serializers.IntegerField(min_value=1)
    count = serializers.IntegerField(min_value=1, max_value=PREVIEW_MAX_COUNT, default=4)
    seed = serializers.IntegerField(min_value=0, max_value=2**63 - 1, default=0)
    max_side = serializers.IntegerField(
        min_value=32, max_value=16384, required=False, allow_null=True, default=None,
        help_text="Shrink the returned JPEGs to at most this many pixels on their longer side "
        "(augmentation still runs at full size; annotations stay in full-size pixels).",
    )


class CorruptionInputSerializer(serializers.Serializer):
    profile = serializers.CharField(max_length=50)
    severity = serializers.IntegerField(min_value=1, max_value=5)
    split = split_choice_field(TEST)
    seed = serializers.IntegerField(min_value=0, max_value=2**63 - 1, default=0)
