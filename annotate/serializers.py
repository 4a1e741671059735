"""Input and output shapes of the annotate API. Validation of geometry is not here: it lives in
:mod:`annotate.geometry` and is reached through the services."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import keypoints, split_names
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
    annotation_count = serializers.SerializerMethodField(help_text="Annotations of this label (deleting it removes them)")
    mirror_pairs = serializers.SerializerMethodField(
        help_text="Keypoint index pairs [left, right] that trade places when an image is mirrored "
        "(annotate.keypoints.mirror_pairs: the rule augmentation and the YOLO flip_idx use)"
    )
    keypoint_sigmas = serializers.ListField(
        child=serializers.FloatField(), required=False,
        help_text="OKS sigma per keypoint as stored ([]: the defaults, see oks_sigmas)",
    )
    oks_sigmas = serializers.SerializerMethodField(
        help_text="The sigma each keypoint is evaluated with (COCO OKS): keypoint_sigmas, or COCO's for "
        "the 17 COCO names and 0.05 otherwise"
    )

    class Meta:
        model = LabelClass
        fields = [
            "id", "name", "color", "keypoint_names", "skeleton", "keypoint_sigmas", "oks_sigmas",
            "annotation_count", "mirror_pairs",
        ]

    def get_annotation_count(self, label) -> int:
        count = getattr(label, "annotation_count", None)  # annotated by selectors.labels_with_counts
        return count if count is not None else label.annotations.count()

    @extend_schema_field(serializers.ListField(child=serializers.FloatField()))
    def get_oks_sigmas(self, label):
        return keypoints.oks_sigmas(label.keypoint_names or [], label.keypoint_sigmas)

    @extend_schema_field(serializers.ListField(child=serializers.ListField(child=serializers.IntegerField())))
    def get_mirror_pairs(self, label):
        return [list(pair) for pair in keypoints.mirror_pairs(label.keypoint_names or [])]


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
    skip_broken = serializers.BooleanField(
        required=False, default=False,
        help_text="Add the other images when some are broken, listing the broken ones under 'skipped' in the job's "
        "result (without it, one broken image fails the job and adds none)",
    )


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
    dry_run = serializers.BooleanField(
        default=False, help_text="Only compute what the split would do (changed, counts); save nothing"
    )


# --- response shapes of answers built as plain dicts (they document them in the OpenAPI schema) ---
class ImageAnnotationsSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    revision = serializers.IntegerField(help_text="Send it back as If-Match with the next PUT")
    annotations = AnnotationSerializer(many=True)


class StaleRevisionSerializer(serializers.Serializer):
    detail = serializers.CharField()
    revision = serializers.IntegerField(help_text="The image's current revision: GET it again, then retry")


class ImageUploadResultSerializer(serializers.Serializer):
    created = ImageSerializer(many=True, help_text="The images stored by this upload")
    duplicates = ImageSerializer(many=True, help_text="Files the project already held: the existing images")


class SplitCountsSerializer(serializers.Serializer):
    train = serializers.IntegerField()
    val = serializers.IntegerField()
    test = serializers.IntegerField()
    unassigned = serializers.IntegerField()


class SplitResultSerializer(serializers.Serializer):
    changed = serializers.IntegerField(help_text="Images whose split changed (would change, with dry_run)")
    counts = SplitCountsSerializer(help_text="Images per split afterwards (would be, with dry_run)")
    params = SplitInputSerializer(help_text="The parameters the split ran with")


class HealthSplitSerializer(serializers.Serializer):
    images = serializers.IntegerField()
    objects = serializers.DictField(child=serializers.IntegerField(), help_text="Annotations per class name")
    images_per_class = serializers.DictField(child=serializers.IntegerField(), help_text="Images per class name")


class HealthSplitsSerializer(serializers.Serializer):
    train = HealthSplitSerializer()
    val = HealthSplitSerializer()
    test = HealthSplitSerializer()
    unassigned = HealthSplitSerializer()


class HealthUnannotatedSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    images = serializers.ListField(child=serializers.IntegerField(), help_text="Ids of the first ones (capped)")


class HealthInvalidAnnotationSerializer(serializers.Serializer):
    annotation = serializers.IntegerField()
    image = serializers.IntegerField()
    problem = serializers.CharField()


class HealthInvalidAnnotationsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    items = HealthInvalidAnnotationSerializer(many=True, help_text="The first ones (capped)")


class SplitLeakSerializer(serializers.Serializer):
    images = serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2)
    splits = serializers.ListField(child=serializers.ChoiceField(choices=list(split_names.SPLITS)), min_length=2, max_length=2)
    distance = serializers.IntegerField(help_text="Perceptual-hash bits that differ")


class HealthSplitLeaksSerializer(serializers.Serializer):
    max_distance = serializers.IntegerField(help_text="SPLIT_LEAK_MAX_DISTANCE")
    count = serializers.IntegerField()
    pairs = SplitLeakSerializer(many=True, help_text="The first ones (capped)")


class HealthSerializer(serializers.Serializer):
    images = serializers.IntegerField()
    splits = HealthSplitsSerializer()
    classes = serializers.ListField(child=serializers.CharField(), help_text="Label names")
    unannotated = HealthUnannotatedSerializer()
    invalid_annotations = HealthInvalidAnnotationsSerializer()
    split_leaks = HealthSplitLeaksSerializer(
        help_text="Near-duplicate images (perceptual hash) that sit in different splits"
    )
