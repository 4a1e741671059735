"""The project page's sections: each app registers its own link and count.

The project page (the hub) lists everything a project has — images, labels, members, health,
recipes, synthetic data, versions, training runs, jobs — but ``annotate`` may not import the
apps that own most of them (the dependency direction of DESIGN.md §2). So each app registers
its sections in its ``AppConfig.ready``::

    section_register("versions", title="Versions", url_name="version-list-page", order=60,
                     count=lambda project: DatasetVersion.objects.filter(project=project).count())

The page asks every section for its count (one small query each) and links it with
``reverse(url_name, args=[project.pk])``. ``can`` names the capability a user needs to see the
link (``None``: every member); the target page still checks access itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from .models import Project


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    url_name: str
    order: int
    count: Callable[[Project], int | str] | None = None
    can: str | None = None
    testid: str = ""


_SECTIONS: dict[str, Section] = {}


def section_register(key: str, *, title: str, url_name: str, order: int,
                     count: Callable[[Project], int | str] | None = None, can: str | None = None) -> None:
    """Add (or replace) the section ``key`` of every project page."""
    _SECTIONS[key] = Section(key, title, url_name, order, count, can, testid=f"hub-{key}")


def sections_for(project: Project, *, allowed: Callable[[str], bool]) -> list[dict]:
    """The sections of ``project``'s page a user sees, in order, as dicts for the template.

    ``allowed(can)`` says whether the user has a capability (see :class:`annotate.permissions.Can`).
    """
    out = []
    for section in sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key)):
        if section.can is not None and not allowed(section.can):
            continue
        out.append({
            "key": section.key, "title": section.title, "testid": section.testid,
            "url": reverse(section.url_name, args=[project.pk]),
            "count": section.count(project) if section.count is not None else None,
        })
    return out
