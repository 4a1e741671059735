"""Instance groups: ``Annotation.group``, and groups rebuilt for synthetic images stored before.

The generators stored each rendered or pasted object as a mask, its tight box and (for keypoint
classes) its keypoints, with the object's number in the ``instance`` attribute but nothing tying
them together. Here the parts of each such object are grouped: by that ``instance`` attribute
where the annotations carry it, else (older or edited images) by pairing each mask with a box of
the same label that agrees with the mask's tight box within 1 px. The image's revision is bumped
where anything changed, so an editor holding the old one gets a 412 rather than undoing it.
"""

from django.db import migrations, models

BATCH = 500


def _instance_groups(rows: list[dict]) -> dict[int, int]:
    """Annotation id -> instance number, for parts that carry one and share it with another."""
    by_instance: dict[object, list[dict]] = {}
    for row in rows:
        instance = (row["attributes"] or {}).get("instance")
        if instance is not None and row["kind"] != "tag":
            by_instance.setdefault((instance, row["label_id"]), []).append(row)
    out = {}
    for parts in by_instance.values():
        kinds = [p["kind"] for p in parts]
        slots = ["box" if k == "box" else "outline" if k in ("mask", "polygon") else k for k in kinds]
        if len(parts) > 1 and len(set(slots)) == len(slots):
            for part in parts:
                out[part["id"]] = id(parts)
    return out


def _box_pairs(rows: list[dict]) -> dict[int, int]:
    """Annotation id -> pair key, for masks and boxes of one label whose boxes agree within 1 px."""
    from annotate.geometry import mask_box

    boxes = [r for r in rows if r["kind"] == "box"]
    taken: set[int] = set()
    out = {}
    for row in rows:
        if row["kind"] != "mask":
            continue
        tight = mask_box(row["geometry"])
        if tight is None:
            continue
        for box in boxes:
            g = box["geometry"]
            if box["id"] in taken or box["label_id"] != row["label_id"]:
                continue
            if all(abs(a - b) <= 1.0 for a, b in zip(tight, (g["x"], g["y"], g["w"], g["h"]))):
                taken.add(box["id"])
                out[row["id"]] = out[box["id"]] = row["id"]
                break
    return out


def rebuild_groups(apps, schema_editor):
    Image = apps.get_model("annotate", "Image")
    Annotation = apps.get_model("annotate", "Annotation")
    ids = list(Image.objects.filter(source="synthetic").order_by("id").values_list("id", flat=True))
    by_instance = by_boxes = untouched = objects = 0
    for start in range(0, len(ids), BATCH):
        page = ids[start:start + BATCH]
        rows_of: dict[int, list[dict]] = {}
        for row in Annotation.objects.filter(image_id__in=page).order_by("id").values(
            "id", "image_id", "label_id", "kind", "geometry", "attributes", "group"
        ):
            rows_of.setdefault(row["image_id"], []).append(row)
        for image_id in page:
            rows = rows_of.get(image_id, [])
            if any(r["group"] is not None for r in rows):
                untouched += 1
                continue
            keys = _instance_groups(rows)
            how = "instance"
            if not keys:
                keys, how = _box_pairs(rows), "boxes"
            if not keys:
                untouched += 1
                continue
            numbers: dict[object, int] = {}
            for row in rows:
                if row["id"] in keys:
                    number = numbers.setdefault(keys[row["id"]], len(numbers) + 1)
                    Annotation.objects.filter(pk=row["id"]).update(group=number)
            Image.objects.filter(pk=image_id).update(revision=models.F("revision") + 1)
            objects += len(numbers)
            if how == "instance":
                by_instance += 1
            else:
                by_boxes += 1
    if ids:
        print(
            f"\n  Instance groups: {objects} objects grouped on {by_instance + by_boxes} of {len(ids)} synthetic images "
            f"({by_instance} by their instance ids, {by_boxes} by mask and box agreeing within 1 px); "
            f"{untouched} left as they were."
        )


class Migration(migrations.Migration):
    dependencies = [("annotate", "0002_image_content_not_unique")]

    operations = [
        migrations.AddField(
            model_name="annotation",
            name="group",
            field=models.PositiveIntegerField(
                blank=True, null=True,
                help_text="Object id within the image: the annotations of one object (box, mask, keypoints) share it",
            ),
        ),
        migrations.RunPython(rebuild_groups, migrations.RunPython.noop),
    ]
