"""What each project role may do.

Owners do everything; annotators label and upload; reviewers label and accept/reject work;
viewers only look. Superusers act as owners of every project (they run the installation).
"""

from __future__ import annotations

from enum import StrEnum

from .models import Role


class Can(StrEnum):
    VIEW = "view"
    ANNOTATE = "annotate"  # change annotations, image status and split
    UPLOAD = "upload"  # add images
    REVIEW = "review"  # accept / reject an image's annotations
    MANAGE = "manage"  # project settings, labels, members, splitting, deleting


ROLE_CAPABILITIES: dict[str, frozenset[Can]] = {
    Role.OWNER: frozenset(Can),
    Role.ANNOTATOR: frozenset({Can.VIEW, Can.ANNOTATE, Can.UPLOAD}),
    Role.REVIEWER: frozenset({Can.VIEW, Can.ANNOTATE, Can.REVIEW}),
    Role.VIEWER: frozenset({Can.VIEW}),
}


def role_allows(role: str | None, capability: Can) -> bool:
    return role is not None and capability in ROLE_CAPABILITIES.get(role, frozenset())
