"""Input and output shapes of the augment API. Spec validation is not here: it lives in
:mod:`augment.recipes` and is reached through the services, so the API, the admin and scripts
all get the same checks."""

from rest_framework import serializers

from annotate.models import Annotation
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
    spec = serializers.JSONField(
        required=False, help_text="Preview this spec (unsaved edits, validated as on save) instead of the stored one"
    )


class CorruptionInputSerializer(serializers.Serializer):
    profile = serializers.CharField(max_length=50)
    severity = serializers.IntegerField(min_value=1, max_value=5)
    split = split_choice_field(TEST)
    seed = serializers.IntegerField(min_value=0, max_value=2**63 - 1, default=0)


# --- response shapes of answers built as plain dicts (they document them in the OpenAPI schema) ---
class ProfileSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    simulates = serializers.CharField(help_text="The camera failure it simulates")
    rationale = serializers.CharField(help_text="Why these parameter ranges")
    spec = serializers.JSONField(help_text="The recipe spec a clone of this profile starts from")
    severity_levels = serializers.DictField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=5, max_length=5),
        help_text="What grows with severity: parameter name -> its value at severities 1-5",
    )


class ProfileDetailSerializer(ProfileSerializer):
    corruptions = serializers.DictField(
        child=serializers.JSONField(), help_text='Severity ("1" to "5") -> the fixed-strength recipe spec of that severity'
    )


class TransformParameterSerializer(serializers.Serializer):
    required = serializers.BooleanField(required=False, help_text="Present (true) when the parameter has no default")
    default = serializers.JSONField(required=False, allow_null=True)
    type = serializers.ChoiceField(
        choices=["boolean", "integer", "number", "choice", "range", "json"],
        help_text="How to enter it: range is a pair [low, high] of `item`; json is any JSON value",
    )
    item = serializers.ChoiceField(choices=["integer", "number"], required=False, help_text="The type of a range's two values")
    min = serializers.FloatField(required=False, help_text="Smallest allowed value (of each value of a range)")
    max = serializers.FloatField(required=False, help_text="Largest allowed value (of each value of a range)")
    min_exclusive = serializers.BooleanField(required=False, help_text="min itself is not allowed")
    max_exclusive = serializers.BooleanField(required=False, help_text="max itself is not allowed")
    choices = serializers.ListField(child=serializers.JSONField(), required=False, help_text="The allowed values of a choice")
    nullable = serializers.BooleanField(required=False, help_text="null is allowed too")
    accepts_number = serializers.BooleanField(required=False, help_text="A range that also takes a single number")


class TransformSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(
        choices=["geometric", "pixel"], help_text="geometric transforms move annotations; pixel ones leave them"
    )
    custom = serializers.BooleanField(help_text="Ours, not albumentations'")
    params = serializers.DictField(child=TransformParameterSerializer())


class AugmentedAnnotationSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The annotation it was made from")
    label = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Annotation.Kind.choices)
    geometry = serializers.JSONField(help_text="In pixels of the augmented image")
    attributes = serializers.JSONField()
    bbox = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4, help_text="[x, y, w, h]")


class PreviewSampleSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    seed = serializers.IntegerField(help_text="The seed of this sample (as copy `index` of a version build)")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    display_scale = serializers.FloatField(help_text="How much the returned JPEG was shrunk (1: not at all)")
    image = serializers.CharField(help_text="A data:image/jpeg;base64 URL")
    annotations = AugmentedAnnotationSerializer(many=True)


class ImageSizeSerializer(serializers.Serializer):
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class PreviewSerializer(serializers.Serializer):
    recipe = serializers.IntegerField()
    image = serializers.IntegerField()
    seed = serializers.IntegerField()
    source = ImageSizeSerializer(help_text="The size of the original image")
    samples = PreviewSampleSerializer(many=True)


class CorruptionRunningSerializer(serializers.Serializer):
    detail = serializers.CharField()
    job = serializers.IntegerField(help_text="The job already building this corruption")


class CorruptionItemSerializer(serializers.Serializer):
    source_image = serializers.IntegerField(help_text="The id of the image it was made from")
    file = serializers.CharField(help_text="images/<source image id>.jpg")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    seed = serializers.IntegerField()
    annotations = AugmentedAnnotationSerializer(many=True)


class CorruptionManifestSerializer(serializers.Serializer):
    folder = serializers.CharField(help_text="Under MEDIA_ROOT")
    manifest_url = serializers.CharField()
    profile = serializers.SlugField()
    severity = serializers.IntegerField(min_value=1, max_value=5)
    split = split_choice_field(TEST)
    seed = serializers.IntegerField()
    levels = serializers.DictField(child=serializers.FloatField(), help_text="The profile's levels at this severity")
    spec = serializers.JSONField(help_text="The recipe that was applied")
    images = serializers.IntegerField()
    annotations = serializers.IntegerField()
    items = CorruptionItemSerializer(many=True)


class RecipeValidateInputSerializer(serializers.Serializer):
    spec = serializers.JSONField(help_text="A recipe spec, checked exactly as saving it would check it")


class RecipeValidSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text="Always true: an invalid spec gets 400 with a message per field")
