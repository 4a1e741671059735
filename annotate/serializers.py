"""Input and output shapes of the annotate API. Validation of geometry is not here: it lives in
:mod:`annotate.geometry` and is reached through the services."""

from django.urls import reverse
from rest_framework import serializers

from . import split_names
from .models import Annotation, Image, LabelClass, Membership, Project, Role, Split


class ProjectSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    role = serializers.SerializerMethodField()
    image_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Project
        fields = ["id", "name", "description", "created_by", "created_at", "role", "image_count"]
        read_only_fields = ["id", "created_by", "created_at", "role", "image_count"]

    def get_role(self, project) -> str | None:
        return getattr(project, "user_role", None)


class ProjectInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False, default="")


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]


class MembershipInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.ANNOTATOR)


class RoleInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class LabelClassSerializer(serializers.ModelSerializer):
    color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False)
    keypoint_names = serializers.ListField(child=serializers.CharField(), required=False)
    skeleton = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()), required=False)

    class Meta:
        model = LabelClass
        fields = ["id", "name", "color", "keypoint_names", "skeleton"]


class ImageSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    annotation_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Image
        fields = [
            "id", "project", "original_name", "width", "height", "mime_type", "size_bytes", "sha256",
            "source", "split", "split_locked", "status", "revision", "review_comment", "meta",
            "annotation_count", "file_url", "thumbnail_url", "created_at",
        ]
        read_only_fields = fields

    def get_file_url(self, image) -> str:
        return reverse("image-file", args=[image.pk])

    def get_thumbnail_url(self, image) -> str:
        return reverse("image-thumbnail", args=[image.pk])


class ImageUpdateSerializer(serializers.Serializer):
    split = serializers.ChoiceField(choices=Split.choices, required=False)
    split_locked = serializers.BooleanField(required=False)
    status = serializers.ChoiceField(choices=Image.Status.choices, required=False)


class ImageUploadSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False)


class ZipUploadSerializer(serializers.Serializer):
    file = serializers.FileField()


class ReviewInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["accept", "reject"])
    comment = serializers.CharField(allow_blank=True, required=False, default="")


class AnnotationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Annotation
        fields = ["id", "label", "kind", "geometry", "attributes", "source", "score", "group", "created_at", "updated_at"]


class AnnotationInputSerializer(serializers.Serializer):
    label = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Annotation.Kind.choices)
    geometry = serializers.JSONField()
    attributes = serializers.JSONField(required=False, default=dict)
    source = serializers.ChoiceField(choices=Annotation.Source.choices, required=False, default="manual")
    score = serializers.FloatField(required=False, allow_null=True, default=None)
    group = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1,
        help_text="Object id within the image: the parts of one object share it (returned renumbered 1..n)",
    )


class AnnotationsPutSerializer(serializers.Serializer):
    annotations = AnnotationInputSerializer(many=True)


def split_ratio_field(default: float) -> serializers.FloatField:
    """One split's ratio, 0..1; that the three add up to 1 is :func:`annotate.splits.split_ratios_check`'s."""
    return serializers.FloatField(min_value=0, max_value=1, default=default)


def split_choice_field(default: str) -> serializers.ChoiceField:
    """One of train / val / test (not unassigned)."""
    return serializers.ChoiceField(choices=list(split_names.SPLITS), default=default)


class SplitInputSerializer(serializers.Serializer):
    train = split_ratio_field(0.7)
    val = split_ratio_field(0.15)
    test = split_ratio_field(0.15)
    seed = serializers.IntegerField(default=0)
    stratify = serializers.BooleanField(default=False)
    reset = serializers.BooleanField(default=False)
