"""Small helpers for the labeling page tests: image pixels to screen points, waiting for saves."""

from __future__ import annotations

from playwright.sync_api import expect

from annotate.models import Annotation, Image
from tests.conftest import wait_for


def label_url(image, query: str = "") -> str:
    return f"/projects/{image.project_id}/images/{image.pk}/label" + (f"?{query}" if query else "")


def to_screen(page, x: float, y: float) -> tuple[float, float]:
    """Where image pixel (x, y) is on the screen now, from the image element's box."""
    box = page.get_by_test_id("annotator-image").bounding_box()
    width, height = page.evaluate("[window.annotator.config.width, window.annotator.config.height]")
    return box["x"] + x * box["width"] / width, box["y"] + y * box["height"] / height


def drag(page, a, b, steps: int = 6) -> None:
    page.mouse.move(*to_screen(page, *a))
    page.mouse.down()
    page.mouse.move(*to_screen(page, *b), steps=steps)
    page.mouse.up()


def click(page, x: float, y: float) -> None:
    page.mouse.click(*to_screen(page, x, y))


def wait_saved(page, image: Image, count: int | None = None) -> list[Annotation]:
    """Wait until the page says saved (and the database holds ``count`` annotations)."""
    expect(page.get_by_test_id("save-state")).to_have_attribute("data-state", "saved")
    if count is not None:
        wait_for(lambda: Annotation.objects.filter(image=image).count() == count, timeout=10)
    return list(Annotation.objects.filter(image=image).order_by("id"))
