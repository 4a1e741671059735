"""The JSON parser every API endpoint uses: DRF's, refusing bodies nested too deeply.

Python's JSON decoder recurses once per level, so a body nested some thousand levels deep raised
``RecursionError`` (a 500) on every JSON endpoint; one a few hundred levels deep parsed, then
overflowed later in whatever walked it (validation, ``json.dumps`` on save). No payload this API
takes comes close to ``MAX_DEPTH`` levels (an annotation list with attributes is about six), so
deeper is refused as the caller's mistake, a 400, before any view sees it.
"""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 100
TOO_DEEP = f"The JSON is nested too deeply (more than {MAX_DEPTH} levels of arrays and objects)."


def nested_deeper_than(value: object, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) has more than ``limit`` levels of lists and dicts; no recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested more than :data:`MAX_DEPTH` levels is a ``ParseError`` (400)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if nested_deeper_than(data, MAX_DEPTH):
            raise ParseError(TOO_DEEP)
        return data
