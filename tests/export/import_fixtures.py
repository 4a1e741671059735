"""Small builders for import tests: images, zips, and datasets in each format."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from annotate.models import Annotation, Image, LabelClass
from tests.conftest import image_bytes


def zip_bytes(members: dict[str, bytes | str], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def write_zip(folder: Path, members: dict[str, bytes | str], name: str = "dataset.zip") -> Path:
    path = folder / name
    path.write_bytes(zip_bytes(members))
    return path


def write_folder(folder: Path, members: dict[str, bytes | str]) -> Path:
    for name, data in members.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode() if isinstance(data, str) else data)
    return folder


def jpeg(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    return image_bytes(width, height, seed=seed)


def palette_png(array: np.ndarray) -> bytes:
    image = PILImage.fromarray(array.astype(np.uint8), mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [255, 255, 255] * 253)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def coco_json(images: list[dict], annotations: list[dict], categories: list[dict]) -> str:
    return json.dumps({"images": images, "annotations": annotations, "categories": categories})


def coco_image(id: int, file_name: str, width: int = 64, height: int = 48) -> dict:
    return {"id": id, "file_name": file_name, "width": width, "height": height}


def coco_box(id: int, image_id: int, category_id: int, bbox: list, **extra) -> dict:
    return {"id": id, "image_id": image_id, "category_id": category_id, "bbox": bbox, "iscrowd": 0, **extra}


def coco_dataset(*, annotations: list[dict] | None = None, categories: list[dict] | None = None) -> dict:
    """One image, one category (id 7), one box: the smallest valid COCO set, easy to break."""
    return {
        "annotations/instances_train.json": coco_json(
            [coco_image(1, "a.jpg")],
            annotations if annotations is not None else [coco_box(1, 1, 7, [4, 4, 20, 10])],
            categories if categories is not None else [{"id": 7, "name": "cat"}],
        ),
        "images/a.jpg": jpeg(seed=1),
    }


def voc_xml(filename: str, objects: list[tuple[str, tuple[float, float, float, float]]], size=(64, 48), extra="") -> str:
    parts = [f"<annotation><filename>{filename}</filename>"]
    parts.append(f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>")
    for name, (x0, y0, x1, y1) in objects:
        parts.append(
            f"<object><name>{name}</name>{extra}<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
            f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        )
    parts.append("</annotation>")
    return "".join(parts)


def project_counts(project) -> tuple[int, int, int]:
    """(images, labels, annotations) of a project: what an import that fails must leave as it was."""
    return (
        Image.objects.filter(project=project).count(),
        LabelClass.objects.filter(project=project).count(),
        Annotation.objects.filter(image__project=project).count(),
    )
