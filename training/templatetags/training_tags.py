"""Template filters of the training pages."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


def shown(value: Any) -> str:
    """A metric as people read it: floats to 4 significant digits, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@register.filter
def get_item_safe(mapping: Any, key: Any) -> str:
    """``mapping[key]`` shown (see :func:`shown`), or nothing when absent."""
    if not isinstance(mapping, dict):
        return ""
    return shown(mapping.get(str(key), mapping.get(key)))


@register.filter
def scalar_items(mapping: Any) -> list[tuple[str, str]]:
    """The plain (number, text, flag) entries of a metrics dict, shown; nested tables are left to the plots."""
    if not isinstance(mapping, dict):
        return []
    return [(str(k), shown(v)) for k, v in mapping.items() if isinstance(v, (int, float, str, bool)) and v is not None]
