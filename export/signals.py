"""Keeping cached export files in step with their rows."""

from __future__ import annotations

from pathlib import Path


def export_file_remove(sender, instance, **kwargs) -> None:
    """A deleted export row (its version deleted, say) takes its cached zip with it.

    Removed at once rather than on commit: should the deletion roll back, the row points at a
    missing file, which :func:`export.services.export_cached` treats as no cache (it is remade).
    """
    if instance.path:
        Path(instance.path).unlink(missing_ok=True)
