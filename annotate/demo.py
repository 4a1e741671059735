"""A small demo project drawn locally (no downloads): coloured shapes with exact boxes."""

from __future__ import annotations

import io
import random

from PIL import Image as PILImage
from PIL import ImageDraw

from . import services
from .imaging import check_image_bytes
from .models import Annotation, Project
from .splits import project_split
from .uploads import images_store_checked

DEMO_NAME = "Demo: shapes"


def draw_shapes_image(rng: random.Random, width: int = 640, height: int = 480) -> tuple[bytes, list[tuple[str, tuple]]]:
    """A JPEG with 1-4 circles/squares on a noisy background, and each shape's (x, y, w, h)."""
    base = tuple(rng.randint(40, 200) for _ in range(3))
    image = PILImage.new("RGB", (width, height), base)
    draw = ImageDraw.Draw(image)
    shapes = []
    for _ in range(rng.randint(1, 4)):
        size = rng.randint(40, 140)
        x, y = rng.randint(0, width - size - 1), rng.randint(0, height - size - 1)
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        kind = rng.choice(["circle", "square"])
        if kind == "circle":
            draw.ellipse([x, y, x + size, y + size], fill=colour)
        else:
            draw.rectangle([x, y, x + size, y + size], fill=colour)
        shapes.append((kind, (float(x), float(y), float(size + 1), float(size + 1))))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue(), shapes


def demo_project_create(*, owner, images: int = 12, seed: int = 0) -> Project:
    """Create (once) the demo project owned by ``owner``; returns it."""
    existing = Project.objects.filter(name=DEMO_NAME, memberships__user=owner).first()
    if existing:
        return existing
    project = services.project_create(name=DEMO_NAME, created_by=owner, description="Generated shapes with boxes.")
    labels = {
        "circle": services.label_create(project=project, name="circle", color="#e6194b"),
        "square": services.label_create(project=project, name="square", color="#3cb44b"),
    }
    rng = random.Random(seed)
    drawn = [draw_shapes_image(rng) for _ in range(images)]
    result = images_store_checked(
        project=project, checked=[(f"shapes_{i:03d}.jpg", check_image_bytes(d)) for i, (d, _) in enumerate(drawn)],
        user=owner, source="upload",
    )
    for image, (_, shapes) in zip(result.created, drawn):
        items = services.annotations_validate(
            image=image,
            items=[
                {"label": labels[kind].pk, "kind": Annotation.Kind.BOX, "geometry": {"x": x, "y": y, "w": w, "h": h}}
                for kind, (x, y, w, h) in shapes
            ],
        )
        services.annotations_replace(image=image, expected_revision=image.revision, items=items, user=owner)
    project_split(project=project, train=0.7, val=0.15, test=0.15, seed=seed)
    return project
