"""TFRecord with the TensorFlow Object Detection API's feature schema, sharded per split.

Files: ``<split>/<split>.tfrecord-00000-of-0000N`` (at most ``TFRECORD_SHARD_IMAGES`` images per
shard) and ``label_map.pbtxt`` (ids 1..n in label order, as the API numbers classes). Each record
is a ``tf.train.Example`` with ``image/encoded`` and ``image/format`` (left out when exporting
without images), ``image/height``, ``image/width``, ``image/filename``, ``image/source_id``,
``image/key/sha256``, and per object ``image/object/bbox/{xmin,xmax,ymin,ymax}`` (normalized),
``image/object/class/text`` and ``image/object/class/label``. One object per object of the image
(:func:`annotate.geometry.objects_of`: an instance group's box, outline and keypoints are one),
written as its box: its box part, else the box of its outline or of its visible keypoints (an
object without one is left out); tags are left out.

TensorFlow is imported only when such an export runs (the import takes seconds).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from annotate.geometry import objects_of
from datasets.models import DatasetVersion

from . import common

FORMATS = {"image/jpeg": b"jpeg", "image/png": b"png", "image/webp": b"webp", "image/bmp": b"bmp",
           "image/tiff": b"tiff"}


def check(version: DatasetVersion) -> str | None:
    return None


def shard_size() -> int:
    return int(getattr(settings, "EXPORT_TFRECORD_SHARD_IMAGES", 1000))


def label_map(version: DatasetVersion) -> bytes:
    items = []
    for i, name in enumerate(version.label_names, start=1):
        escaped = name.replace("\\", "\\\\").replace("'", "\\'")
        items.append(f"item {{\n  id: {i}\n  name: '{escaped}'\n}}\n")
    return "".join(items).encode()


def example(tf, row, *, with_images: bool, class_ids: dict[str, int]):
    """The ``tf.train.Example`` of one image."""
    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    def strings(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    xmin, xmax, ymin, ymax, texts, labels = [], [], [], [], [], []
    for obj in objects_of(row.annotations):
        box = obj.bbox()
        if box is None:
            continue
        x, y, w, h = box
        xmin.append(x / row.width)
        xmax.append((x + w) / row.width)
        ymin.append(y / row.height)
        ymax.append((y + h) / row.height)
        texts.append(obj.label.encode())
        labels.append(class_ids[obj.label])
    feature = {
        "image/height": ints([row.height]),
        "image/width": ints([row.width]),
        "image/filename": strings([row.file_name.encode()]),
        "image/source_id": strings([str(row.index + 1).encode()]),
        "image/key/sha256": strings([row.sha256.encode()]),
        "image/object/bbox/xmin": floats(xmin),
        "image/object/bbox/xmax": floats(xmax),
        "image/object/bbox/ymin": floats(ymin),
        "image/object/bbox/ymax": floats(ymax),
        "image/object/class/text": strings(texts),
        "image/object/class/label": ints(labels),
    }
    if with_images:
        feature["image/encoded"] = strings([Path(common.image_path(row)).read_bytes()])
        feature["image/format"] = strings([FORMATS.get(row.mime_type, b"jpeg")])
    return tf.train.Example(features=tf.train.Features(feature=feature))


def members(version: DatasetVersion, *, with_images: bool, progress: common.Progress = None) -> Iterator[tuple]:
    import tensorflow as tf

    class_ids = {name: i for i, name in enumerate(version.label_names, start=1)}
    ticker = common.Ticker(version, progress)
    per_shard = shard_size()
    yield common.MANIFEST_NAME, common.manifest(version, "tfrecord", with_images)
    yield "label_map.pbtxt", label_map(version)
    with tempfile.TemporaryDirectory(prefix="tfrecord-") as folder:
        for split in common.splits_of(version):
            shards = max(1, math.ceil(version.counts["images"][split] / per_shard))
            names = [f"{split}.tfrecord-{i:05d}-of-{shards:05d}" for i in range(shards)]
            shard, written, writer = 0, 0, None
            for row in common.rows(version, split):
                if writer is None:
                    path = Path(folder) / names[shard]
                    writer = tf.io.TFRecordWriter(str(path))
                writer.write(example(tf, row, with_images=with_images, class_ids=class_ids).SerializeToString())
                written += 1
                ticker.tick(f"Writing {split}")
                if written == per_shard:
                    writer.close()
                    yield f"{split}/{names[shard]}", path
                    path.unlink()
                    shard, written, writer = shard + 1, 0, None
            if writer is not None:
                writer.close()
                yield f"{split}/{names[shard]}", path
                path.unlink()
